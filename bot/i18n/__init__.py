"""Member-facing words in the member's language: the message catalog (``catalog``), which
language answers which Discord locale (``locales``)."""
