"""``ops.py prove RECEIPT``: show that one receipt's vote is in the published Merkle root.

RECEIPT is a file or the JSON text itself: the vote API's answer (or any object) with
``receipt``, ``receipt_signature`` and ``vote_id``, or the bare receipt object. The
proof comes from the published proof files and is checked against the root in
results.json, exactly as the results page does in the browser; ``ops.py audit``
separately checks that the root is the one the published ledger gives.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ballotbox.core.campaign import Campaign
from ballotbox.core.encoding import b64u_decode
from ballotbox.core.errors import BadSignature
from ballotbox.core.formats import Results
from ballotbox.core.signature import verify

from opstools import merkle


class ProveError(ValueError):
    """The receipt cannot be proved; the message is in both languages."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{en} / {zh}")


def parse_receipt(text: str) -> tuple[str, str | None]:
    """(receipt text, receipt signature or None) from what a voter kept."""
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise ProveError("收据不是 JSON", "the receipt is not JSON") from exc
    if not isinstance(obj, dict):
        raise ProveError("收据不是 JSON 对象", "the receipt is not a JSON object")
    if isinstance(obj.get("receipt"), str):
        receipt, signature = obj["receipt"], obj.get("receipt_signature")
        vid = obj.get("vote_id")
    elif obj.get("v") == 1 and isinstance(obj.get("vote_id"), str):
        receipt, signature, vid = text.strip(), None, obj["vote_id"]
    else:
        raise ProveError("找不到收据内容（receipt）", "no receipt found in the input")
    try:
        inner = json.loads(receipt)
    except ValueError as exc:
        raise ProveError("收据内容不是 JSON", "the receipt text is not JSON") from exc
    if not isinstance(inner, dict) or not isinstance(inner.get("vote_id"), str):
        raise ProveError("收据缺少投票编号", "the receipt has no vote_id")
    if vid is not None and vid != inner["vote_id"]:
        raise ProveError("投票编号与收据不一致", "vote_id differs from the receipt's")
    return receipt, signature if isinstance(signature, str) else None


def prove(receipt: str, bucket: Mapping[str, Any] | None, root: str, size: int) -> merkle.Proof:
    """The receipt's proof from its bucket, checked against the published root."""
    vid = json.loads(receipt)["vote_id"]
    entry = (bucket or {}).get("proofs", {}).get(vid)
    if entry is None:
        raise ProveError(
            f"投票 {vid} 不在公布的记录中", f"vote {vid} is not in the published ledger"
        )
    proof = merkle.Proof(
        vote_id=vid,
        index=int(entry["index"]),
        size=size,
        leaf=merkle.receipt_leaf(receipt).hex(),
        path=tuple(entry["path"]),
        root=root,
    )
    if not proof.verifies():
        raise ProveError(
            "证明与公布的 Merkle 根不符：收据与记录不一致",
            "the proof does not lead to the published Merkle root: the receipt differs"
            " from the recorded vote",
        )
    return proof


def check_signature(receipt: str, signature: str, receipt_key: str) -> None:
    try:
        verify(b64u_decode(receipt_key), receipt.encode("utf-8"), b64u_decode(signature))
    except (BadSignature, ValueError) as exc:
        raise ProveError(
            "收据签名无效：它不是本次评选服务器签发的",
            "the receipt signature does not verify: the server did not issue it",
        ) from exc


def run(args: argparse.Namespace) -> int:
    try:
        # JSON text starts with "{"; anything else names a file.
        given = args.receipt.lstrip()
        text = given if given.startswith("{") else Path(args.receipt).read_text("utf-8")
        receipt, signature = parse_receipt(text)
        results = Results.from_json(json.loads((args.export / "results.json").read_text("utf-8")))
        campaign = Campaign.from_dict(
            json.loads((args.export / results.files["campaign"]).read_text("utf-8"))
        )
        if signature is not None:
            check_signature(receipt, signature, campaign.receipt_key or "")
        vid = json.loads(receipt)["vote_id"]
        prefix = results.proofs_prefix
        bucket_path = args.export / results.proofs_dir / f"{vid[:prefix]}.json"
        bucket = json.loads(bucket_path.read_text("utf-8")) if bucket_path.is_file() else None
        root, size = results.root, results.leaves
        proof = prove(receipt, bucket, root, size)
    except ProveError as exc:
        print(f"prove: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(
            f"prove: cannot read the published results in {args.export} ({exc!r}) /"
            f" 无法读取公布的结果文件",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(proof.to_json(), indent=1))
    signed = "signed by the server, " if signature is not None else ""
    print(f"vote {vid}: {signed}included under root {root}", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "prove", help="prove a receipt is in the published Merkle root", description=__doc__
    )
    parser.add_argument("receipt", help="a file holding the receipt, or the JSON text")
    parser.add_argument(
        "--export",
        type=Path,
        default=Path("dist/audit"),
        help="the published results folder (default %(default)s)",
    )
    parser.set_defaults(run=run)
