"""The local development stack behind ``vanphong stack``: Kafka, PostgreSQL, the Apicurio
registry, Keycloak and the secure cluster on this machine, for development and the tests.

Not for production: what a platform team applies is in ``deploy/production/``.
``stack`` is the front (the names other code imports); each service is a component
(``component``: fetch, configure, start, ready, stop, status).
"""
