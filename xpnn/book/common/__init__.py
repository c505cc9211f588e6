"""The book's ``common`` package, served by xpnn (see :mod:`xpnn.book`)."""
