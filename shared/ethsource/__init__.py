"""ethsource: the library layer every function imports (a Lambda Layer on AWS)."""
