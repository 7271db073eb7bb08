"""Organizations of an account (/organization/*): the level above teams."""
