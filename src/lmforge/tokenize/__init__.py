"""Tokenizers (load, train) and tokenization of Dolma documents into OLMo token files."""
