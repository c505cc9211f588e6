"""A decoy: the book's own ``common`` package. xpnn.book must serve ``common`` instead, so
importing this is an error."""

raise ImportError("the decoy tests/book_repo/common was imported: xpnn.book did not serve it")
