"""What the tests and the bench both use to drive and watch the demo; never the services.

Not shipped: the service image and the wheel hold only the services, ``shared`` and the
frontend. Like ``tests`` and ``bench``, it is imported from the repository's root (``make test``,
``make bench``, ``make soak``), and no service, ``shared`` or the frontend imports it
(``tests/unit/test_layout.py`` checks that).
"""
