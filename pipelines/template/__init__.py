"""The template itself: what runs once per project (init, GitHub setup) and the template record."""
