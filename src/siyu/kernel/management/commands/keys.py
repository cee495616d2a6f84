"""``siyu keys status`` and ``siyu keys rotate``: field encryption keys and re-encryption of every stored value.

The procedure and its reasons are in ``docs/adr/0001-field-encryption.md``; the work is in
``kernel.encrypted.reencrypt_all`` and the key file handling in ``kernel.crypto``.
"""

from __future__ import annotations

from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from siyu.kernel import crypto, encrypted


def _counts(counter: Counter) -> str:
    return " ".join(f"{k}={n}" for k, n in sorted(counter.items())) or "no values"


class Command(BaseCommand):
    help = "Field encryption keys: `status` counts values per key id; `rotate` re-encrypts them under the active key."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        status = sub.add_parser("status", help="Count encrypted values per key id in every registered column.")
        status.add_argument("--print-index-key", action="store_true",
                            help="Also print the blind-index key, to pin it as index_key in SIYU_FIELD_KEYS.")
        rotate = sub.add_parser("rotate", help="Re-encrypt every value under the active key (embedded mode: a new key first).")
        rotate.add_argument("--batch-size", type=int, default=1000, help="Rows per transaction (default 1000).")
        rotate.add_argument("--no-new-key", action="store_true",
                            help="Embedded mode: only re-encrypt under the current active key.")
        rotate.add_argument("--force-new-key", action="store_true",
                            help="Embedded mode: make a new key even if an earlier rotation is unfinished.")
        rotate.add_argument("--retire", metavar="KEY_ID",
                            help="Remove a key once no value is left under it (nothing is re-encrypted).")

    def handle(self, *args, **opts):
        try:
            ring = crypto.keyring()
        except crypto.CryptoError as exc:
            raise CommandError(f"field keys: {exc}") from exc
        if opts["action"] == "status":
            self.status(ring, opts["print_index_key"])
        elif opts["retire"]:
            self.retire(ring, opts["retire"])
        else:
            self.rotate(ring, opts)

    # --- status ---------------------------------------------------------------------------------------------

    def status(self, ring: crypto.KeyRing, print_index_key: bool) -> None:
        path = crypto.keys_file()
        conf = crypto.current_config()
        self.stdout.write(f"keys from: {'the SIYU_FIELD_KEYS environment variable' if path is None else path}")
        index = "pinned (index_key)" if conf.get("index_key") else f"derived from {conf.get('index_key_id') or ring.active}"
        self.stdout.write(f"active key: {ring.active}; configured: {', '.join(sorted(ring.keys))}; blind-index key: {index}")
        total: Counter = Counter()
        for label, counts in encrypted.count_by_key().items():
            self.stdout.write(f"{label}: {_counts(counts)}")
            total.update(counts)
        self.stdout.write(f"total: {_counts(total)}")
        unused = sorted(set(ring.keys) - set(total) - {ring.active})
        if unused:
            self.stdout.write(f"no value is under {', '.join(unused)}: `siyu keys rotate --retire KEY_ID` removes it")
        if print_index_key:
            self.stderr.write("The blind-index key is a secret: put it in SIYU_FIELD_KEYS as index_key, nowhere else.")
            self.stdout.write(f"index_key: {crypto.index_key_b64()}")

    # --- rotate ---------------------------------------------------------------------------------------------

    def rotate(self, ring: crypto.KeyRing, opts: dict) -> None:
        if opts["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        path = crypto.keys_file()
        stale = sum(encrypted.pending(ring.active).values())
        if path is None:
            if stale == 0:
                self.stdout.write(
                    f"Every encrypted value is already under the active key {ring.active}, the only key in use. "
                    "To rotate: add a new key to SIYU_FIELD_KEYS on every host (keep the old one, and keep "
                    "index_key or index_key_id as it is), restart; then mark the new key active, restart, and run "
                    "`siyu keys rotate` again."
                )
                return
        elif opts["force_new_key"] or (stale == 0 and not opts["no_new_key"]):
            conf = crypto.pinned(crypto.current_config())
            kid = crypto.next_key_id(conf["keys"])
            conf["keys"][kid] = crypto.new_key()
            conf["active"] = kid
            crypto.write_keys_file(path, conf)
            ring = crypto.keyring()
            self.stdout.write(f"new key {kid} is active ({path}); older keys stay for decryption")
        elif stale:
            self.stdout.write(
                f"{stale} rows still hold values under older keys: finishing the rotation to {ring.active} "
                "(no new key; --force-new-key makes one anyway)"
            )
        report = encrypted.reencrypt_all(batch_size=opts["batch_size"], progress=self._progress)
        for label in report.rotated:
            self.stdout.write(
                f"{label}: {report.rotated[label]} re-encrypted, {report.remaining[label]} left under other keys"
            )
        left = sum(report.remaining.values())
        if report.unreadable:
            detail = "; ".join(f"{label} rows {pks[:10]}" for label, pks in report.unreadable.items())
            raise CommandError(f"rotation to {report.active} incomplete: values that do not decrypt stay as they are: {detail}")
        if left:
            raise CommandError(f"rotation to {report.active} incomplete: {left} rows changed meanwhile; run it again")
        self.stdout.write(self.style.SUCCESS(
            f"every value is under {report.active} ({sum(report.rotated.values())} re-encrypted by this run)"
        ))

    def _progress(self, label: str, done: int, total: int) -> None:
        self.stdout.write(f"{label}: {done}/{total}")

    # --- retire ---------------------------------------------------------------------------------------------

    def retire(self, ring: crypto.KeyRing, kid: str) -> None:
        if kid not in ring.keys:
            raise CommandError(f"there is no key {kid!r} (configured: {', '.join(sorted(ring.keys))})")
        if kid == ring.active:
            raise CommandError(f"{kid} is the active key: rotate to another key before retiring it")
        left = encrypted.values_under(kid)
        if left:
            raise CommandError(
                f"{left} values are still encrypted under {kid}: run `siyu keys rotate` until it finishes "
                "(`siyu keys status` shows where they are)"
            )
        path = crypto.keys_file()
        if path is None:
            conf = crypto.current_config()
            if not conf.get("index_key") and conf.get("index_key_id", kid) == kid:
                raise CommandError(
                    f"the blind-index key is derived from {kid}: before removing {kid} from SIYU_FIELD_KEYS, "
                    "set index_key there to what `siyu keys status --print-index-key` prints"
                )
            self.stdout.write(f"No value is left under {kid}: remove it from SIYU_FIELD_KEYS on every host.")
            return
        conf = crypto.pinned(crypto.current_config())
        del conf["keys"][kid]
        crypto.write_keys_file(path, conf)
        self.stdout.write(self.style.SUCCESS(f"retired {kid} ({path})"))
