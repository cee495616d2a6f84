from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idHasher(Argon2PasswordHasher):
    """Argon2id at the OWASP ASVS 5.0 floor (19 MiB, t=2, p=1): strong, and fast enough for a login form."""

    algorithm = "argon2"
    time_cost = 2
    memory_cost = 19456
    parallelism = 1
