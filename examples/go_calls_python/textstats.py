"""Python functions the Go example (main.go here) calls in its worker processes."""

import collections
import re


def top_words(text, n=3):
    """The n most common words of text, as (word, count) pairs."""
    words = re.findall(r"[a-z']+", text.lower())
    return collections.Counter(words).most_common(n)


def shout(word):
    return word.upper() + "!"


def ratio(a, b):
    return a / b
