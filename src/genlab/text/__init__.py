"""Text (and label) conditioning shared by every conditional family: tokenizers, condition encoders."""

from genlab.text.encoders import (
           ConditionEncoder,
           Encoded,
           LabelEmbedder,
           MiniLMEncoder,
           TransformerTextEncoder,
)
from genlab.text.tokenizers import BPETokenizer, Tokenizer, WordTokenizer, fit_tokenizer, tokenizer_from_data

__all__ = ["BPETokenizer", "ConditionEncoder", "Encoded", "LabelEmbedder", "MiniLMEncoder", "Tokenizer",
           "TransformerTextEncoder", "WordTokenizer", "fit_tokenizer", "tokenizer_from_data"]
