"""Code the users, payment and order services share."""
