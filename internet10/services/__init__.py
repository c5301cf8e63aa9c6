"""Use cases. Services decide (including authorisation); handlers only translate."""
