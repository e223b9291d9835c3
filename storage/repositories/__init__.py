"""One repository per aggregate. Keyword-only methods; they flush, never commit."""
