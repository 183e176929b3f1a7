"""Tokenization vault: identifiers replaced by random `tok_<kind>_...` tokens, values sealed."""
