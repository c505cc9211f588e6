"""The book's ``dataset`` package, served by xpnn (see :mod:`xpnn.book`)."""
