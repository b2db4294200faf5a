"""Pieces shared by every service of the voice agent stack: the latency budget, audio helpers, model assembly."""
