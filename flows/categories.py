"""The categories of a request (design §3, "Categories"): their codes, in the order they are
listed. Their Chinese names are `flows.texts.CATEGORY_NAMES`; the words that point at each are
the parser's (flows/lexicon.yaml). A module of its own so that reading a config does not load
the request parser."""

CATEGORIES = ("repair", "safety", "sanitation", "dispute", "security", "order", "care", "service",
              "consult", "suggestion")
