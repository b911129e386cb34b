"""Server-rendered pages (Jinja2): the digital locker, and later the back office."""
