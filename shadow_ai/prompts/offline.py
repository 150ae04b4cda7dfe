"""The offline prompt-log tool: make the organization's key pair, and open exported entries on
your own machine. It needs only the ``cryptography`` package (no Django, no database, no
network), so the private key never has to be anywhere near the console.

    python -m shadow_ai.prompts.offline keygen --private-key prompt-log.key
        writes the private key (PEM, mode 0600) and prints the public key to upload in the console
        (Shadow AI → AI prompt log → Encryption key).

    python -m shadow_ai.prompts.offline decrypt --private-key prompt-log.key prompt-log-export.json
        prints every exported entry it can open: metadata, prompt, response, topics and the
        redacted DLP matches (JSON, one entry per line with --json)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from shadow_ai.prompts import sealing


def keygen(private_key_path: Path, out: TextIO) -> str:
    """Write a new private key to ``private_key_path`` (refusing to overwrite) and return the
    public key, base64."""
    key = X25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private_key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public = base64.b64encode(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                           serialization.PublicFormat.Raw)).decode()
    out.write(f"Private key written to {private_key_path} (keep it offline; the console never needs it).\n")
    out.write(f"Public key to upload:\n{public}\n")
    return public


def decrypt_entries(export: dict[str, Any], key: X25519PrivateKey) -> list[dict[str, Any]]:
    """Every entry of an export with its content opened, or an ``error`` when this key cannot
    open it (sealed to another key, or altered)."""
    mine = sealing.fingerprint(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                             serialization.PublicFormat.Raw))
    opened = []
    for entry in export.get("entries") or []:
        found = {k: v for k, v in entry.items() if k != "sealed"}
        if entry.get("key_fingerprint") not in ("", None, mine):
            found["error"] = f"sealed to key {entry['key_fingerprint']}, not this one ({mine})"
        else:
            try:
                plain = sealing.open_sealed(bytes.fromhex(entry["sealed"]), key, entry["uid"])
                found["content"] = json.loads(plain)
            except (InvalidTag, ValueError, KeyError):
                found["error"] = "cannot be opened with this key (another key, or the entry was altered)"
        opened.append(found)
    return opened


def _print(entry: dict[str, Any], out: TextIO) -> None:
    out.write(f"== {entry.get('at')}  {entry.get('email')} → {entry.get('application')}  [{entry.get('action')}]\n")
    if "error" in entry:
        out.write(f"   not opened: {entry['error']}\n\n")
        return
    content = entry["content"]
    topics = ", ".join(f"{t['name']} ({t['confidence']})" for t in content["topics"]["topics"]) or "none"
    out.write(f"   topics: {topics}\n   prompt:\n{content['prompt']}\n")
    if content.get("response"):
        out.write(f"   response:\n{content['response']}\n")
    for m in content.get("dlp_matches") or []:
        out.write(f"   DLP {m['entry']} in the {m['in']}: …{m['before']}{m['redacted']}{m['after']}…\n")
    out.write("\n")


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m shadow_ai.prompts.offline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("keygen", help="make a key pair")
    make.add_argument("--private-key", type=Path, required=True)
    opening = commands.add_parser("decrypt", help="open an exported prompt log")
    opening.add_argument("--private-key", type=Path, required=True)
    opening.add_argument("export", type=Path)
    opening.add_argument("--json", action="store_true", help="one JSON object per entry and line")
    args = parser.parse_args(argv)
    if args.command == "keygen":
        try:
            keygen(args.private_key, out)
        except FileExistsError:
            parser.error(f"{args.private_key} exists: choose another file (never overwrite a key you may need)")
        return 0
    key = sealing.load_private_key(args.private_key.read_bytes())
    entries = decrypt_entries(json.loads(args.export.read_text()), key)
    for entry in entries:
        if args.json:
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")
        else:
            _print(entry, out)
    return 0 if all("error" not in e for e in entries) else 1


if __name__ == "__main__":
    sys.exit(main())
