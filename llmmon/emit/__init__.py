"""Emitters: each turns a resolved Plan into the text of generated files. They never touch the disk."""
