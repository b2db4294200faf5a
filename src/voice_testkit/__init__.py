"""What the tests, the benchmarks and the load tests share: real speech to say, our servers on free
loopback ports, and a description of the machine a number was measured on.

Development only: installed with the project's editable install (``src`` is on its path), never
imported by the servers, and not part of the wheel the images install.
"""
