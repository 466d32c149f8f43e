#!/usr/bin/env python3
"""Independent verifier of plate-draw receipts (vrs-receipt-v1).

Written from contracts/draw/SPEC.md and vectors.json alone, without reading the
reference implementation, to show that the specification is sufficient.
Python 3.11 standard library, plus py_ecc (8.0.0) for BLS12-381 only.

  verify_receipt.py --trust TRUST.json RECEIPT.json [...]   one line per receipt:
        "OK <plate> <file>" or "FAIL <check> <file>: <detail>"; exit 0 iff all OK
  verify_receipt.py --self-test    recompute vectors.json, verify the recorded
        drand quicknet rounds, RFC 8032 / RFC 9380 self-tests
  verify_receipt.py --cases DIR    DIR/trust.json, DIR/cases.json + receipts

TRUST.json: {"log_origin": "...", "log_key": "<name>+<hex id>+<b64(0x01||pk)>", "beacons":
  [{"beacon_id", "public_key" (hex, G2), "genesis_unix_ms", "period_ms"}]}
"""
import base64, binascii, hashlib, json, os, re, struct, sys

H = lambda b: hashlib.sha256(b).digest()
RULES, RECEIPT_VERSION = "vrs-draw-rules-v1", "vrs-receipt-v1"
BLS_DST = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"

# ---------------------------------------------------------------- ChaCha20 / sampler (§4)
def chacha20_block(key, counter, nonce=bytes(12)):
    M = 0xffffffff
    s = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574, *struct.unpack("<8I", key),
         counter & M, *struct.unpack("<3I", nonce)]
    x = s[:]
    def qr(a, b, c, d):
        for p, q, r, n in ((a, b, d, 16), (c, d, b, 12), (a, b, d, 8), (c, d, b, 7)):
            x[p] = (x[p] + x[q]) & M
            x[r] ^= x[p]
            x[r] = ((x[r] << n) | (x[r] >> (32 - n))) & M
    for _ in range(10):
        qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15)
        qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14)
    return struct.pack("<16I", *((x[i] + s[i]) & M for i in range(16)))

def words(seed):
    ctr = 0
    while True:
        yield from struct.unpack("<8Q", chacha20_block(seed, ctr))
        ctr += 1

def sample(stream, n):
    assert 1 <= n < 2**64
    r = 2**64 % n
    for w in stream:
        if w < 2**64 - r:
            return w % n

def draw_seed(commit_leaf, rnd, randomness):
    return H(b"vrs-draw-seed-v1\x00" + commit_leaf + struct.pack(">Q", rnd) + randomness)

def app_commitment(salt, app_id):
    return H(b"vrs-application-commitment-v1\x00" + salt + app_id.encode())

# ---------------------------------------------------------------- entries (§3)
KINDS = {
    0x01: ("pool-open", "pool_id:str rules_version:str legal_basis:str at_ms:u64"),
    0x02: ("pool-withhold", "pool_id:str reason:str legal_basis:str numbers:numbers at_ms:u64"),
    0x03: ("pool-release", "pool_id:str reason:str legal_basis:str numbers:numbers at_ms:u64"),
    0x04: ("plate-assign", "pool_id:str number:u32 plate:str reason:str legal_basis:str "
           "application_commitment:hash at_ms:u64"),
    0x05: ("plate-revoke", "pool_id:str number:u32 plate:str reason:str legal_basis:str "
           "owner_commitment:hash retained_until_ms:u64 at_ms:u64"),
    0x10: ("draw-commit", "pool_id:str rules_version:str application_commitment:hash "
           "beacon_id:str round:u64 at_ms:u64"),
    0x11: ("draw-result", "commit_index:u64 commit_hash:hash pool_id:str beacon_id:str round:u64 "
           "signature:bytes randomness:hash seed:hash available_count:u32 pool_digest:hash "
           "index:u32 number:u32 plate:str at_ms:u64"),
}

def decode_entry(e):
    """Strict decoding; raises ValueError. Returns dict with 'kind' = name."""
    if len(e) < 5 or e[:4] != b"VRS1" or e[4] not in KINDS:
        raise ValueError("bad magic/kind or too short")
    name, spec = KINDS[e[4]]
    pos, out = 5, {"kind": name}
    def take(n):
        nonlocal pos
        if pos + n > len(e):
            raise ValueError("entry too short")
        pos += n
        return e[pos - n:pos]
    for item in spec.split():
        f, t = item.split(":")
        if t == "u32": v = struct.unpack(">I", take(4))[0]
        elif t == "u64": v = struct.unpack(">Q", take(8))[0]
        elif t == "hash": v = take(32)
        elif t in ("str", "bytes"):
            v = take(struct.unpack(">H", take(2))[0])
            if t == "str": v = v.decode("utf-8")  # invalid UTF-8 -> UnicodeDecodeError (ValueError)
        elif t == "numbers":
            cnt = struct.unpack(">I", take(4))[0]
            v = list(struct.unpack(">%dI" % cnt, take(4 * cnt)))
        out[f] = v
    if pos != len(e):
        raise ValueError("%d bytes left over" % (len(e) - pos))
    return out

# ---------------------------------------------------------------- Merkle tree (§6)
leaf_hash = lambda e: H(b"\x00" + e)
node_hash = lambda l, r: H(b"\x01" + l + r)

def mth(leaves):
    if not leaves: return H(b"")
    if len(leaves) == 1: return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))

def verify_inclusion(leaf, index, size, proof, root):  # RFC 9162 §2.1.3.2
    if index >= size: return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1; sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1; sn >>= 1
    return sn == 0 and r == root

def verify_consistency(m, n, proof, root_m, root_n):  # RFC 9162 §2.1.4.2
    if m > n: return False
    if m == n: return not proof and root_m == root_n
    if m == 0: return not proof   # RFC 6962 defines no proof from the empty tree
    if m & (m - 1) == 0: proof = [root_m] + list(proof)
    if not proof: return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1; sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1; sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1; sn >>= 1
    return fr == root_m and sr == root_n and sn == 0

# ---------------------------------------------------------------- Ed25519 verify (RFC 8032 §5.1.7)
EP = 2**255 - 19
EL = 2**252 + 27742317777372353535851937790883648493
ED = -121665 * pow(121666, -1, EP) % EP
EI = pow(2, (EP - 1) // 4, EP)

def _ed_add(P, Q):
    A, B = (P[1] - P[0]) * (Q[1] - Q[0]) % EP, (P[1] + P[0]) * (Q[1] + Q[0]) % EP
    C, D = 2 * P[3] * Q[3] * ED % EP, 2 * P[2] * Q[2] % EP
    E, F, G, Hh = B - A, D - C, D + C, B + A
    return (E * F % EP, G * Hh % EP, F * G % EP, E * Hh % EP)

def _ed_mul(s, P):
    Q = (0, 1, 1, 0)
    while s:
        if s & 1: Q = _ed_add(Q, P)
        P, s = _ed_add(P, P), s >> 1
    return Q

def _ed_decode(b):
    y = int.from_bytes(b, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= EP: return None
    x2 = (y * y - 1) * pow(ED * y * y + 1, -1, EP) % EP
    if x2 == 0:
        if sign: return None
        x = 0
    else:
        x = pow(x2, (EP + 3) // 8, EP)
        if (x * x - x2) % EP: x = x * EI % EP
        if (x * x - x2) % EP: return None
        if x & 1 != sign: x = EP - x
    return (x, y, 1, x * y % EP)

def _ed_eq(P, Q):
    return (P[0] * Q[2] - Q[0] * P[2]) % EP == 0 and (P[1] * Q[2] - Q[1] * P[2]) % EP == 0

_EB = _ed_decode(bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666"))

def ed25519_verify(pk, msg, sig):
    if len(pk) != 32 or len(sig) != 64: return False
    A, R = _ed_decode(pk), _ed_decode(sig[:32])
    S = int.from_bytes(sig[32:], "little")
    if A is None or R is None or S >= EL: return False
    k = int.from_bytes(hashlib.sha512(sig[:32] + pk + msg).digest(), "little") % EL
    return _ed_eq(_ed_mul(S, _EB), _ed_add(R, _ed_mul(k, A)))  # [S]B = R + [k]A

# ---------------------------------------------------------------- signed notes (§6.3)
def parse_verifier_key(vkey):
    name, idhex, b64 = vkey.split("+", 2)  # base64 may itself contain "+"
    raw = base64.b64decode(b64, validate=True)
    if not name or re.search(r"\s", name) or not re.fullmatch(r"[0-9a-f]{8}", idhex) \
            or len(raw) != 33 or raw[0] != 1:
        raise ValueError("malformed verifier key")
    kid = H(name.encode() + b"\n" + raw)[:4]
    if kid.hex() != idhex:
        raise ValueError("key id does not match name and key")
    return name, kid, raw[1:]

def open_checkpoint(note, vkey):
    """Returns (origin, size, root) or raises ValueError."""
    name, kid, pk = parse_verifier_key(vkey)
    i = note.rfind("\n\n")
    if i < 0 or not note.endswith("\n"): raise ValueError("not a signed note")
    body, sigs = note[:i + 1], note[i + 2:].split("\n")[:-1]
    ok = False
    for line in sigs:
        m = re.fullmatch(r"\u2014 (\S+) (\S+)", line)
        if not m: raise ValueError("malformed signature line")
        raw = base64.b64decode(m.group(2), validate=True)
        if m.group(1) == name and raw[:4] == kid and len(raw) == 68:
            ok = ok or ed25519_verify(pk, body.encode(), raw[4:])
    if not ok: raise ValueError("no valid signature by %s+%s" % (name, kid.hex()))
    lines = body.split("\n")[:-1]
    if len(lines) != 3 or not re.fullmatch(r"0|[1-9][0-9]*", lines[1]):
        raise ValueError("checkpoint body is not origin/size/root")
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32: raise ValueError("root hash is not 32 bytes")
    return lines[0], int(lines[1]), root

# ---------------------------------------------------------------- BLS beacon (§9)
_bls_cache = {}

def bls_verify(pk_bytes, rnd, sig_bytes):
    key = (bytes(pk_bytes), rnd, bytes(sig_bytes))
    if key not in _bls_cache:
        _bls_cache[key] = _bls_verify(*key)
    return _bls_cache[key]

def _bls_verify(pk_bytes, rnd, sig_bytes):
    from py_ecc.optimized_bls12_381 import G2, neg, multiply, is_inf, curve_order, final_exponentiate, FQ12
    from py_ecc.optimized_bls12_381.optimized_pairing import miller_loop
    from py_ecc.bls.point_compression import decompress_G1, decompress_G2
    from py_ecc.bls.hash_to_curve import hash_to_G1
    if len(sig_bytes) != 48 or len(pk_bytes) != 96: return False
    try:
        s = decompress_G1(int.from_bytes(sig_bytes, "big"))
        p = decompress_G2((int.from_bytes(pk_bytes[:48], "big"), int.from_bytes(pk_bytes[48:], "big")))
    except ValueError:
        return False
    if is_inf(s) or is_inf(p) or not is_inf(multiply(s, curve_order)) or not is_inf(multiply(p, curve_order)):
        return False
    hm = hash_to_G1(H(struct.pack(">Q", rnd)), BLS_DST, hashlib.sha256)
    f = miller_loop(G2, s, False) * miller_loop(neg(p), hm, False)
    return final_exponentiate(f) == FQ12.one()   # e(sig, g2) = e(H(m), pk)

# ---------------------------------------------------------------- pools (§2, §5)
SERIES_CAR = set("ABCDEFGHKLMNPSTUVXYZ")

def plate_text(pool_id, n):
    m = re.fullmatch(r"([0-9]{2})-(car|motorbike)-(white|yellow|blue)-([A-Z0-9]+)", pool_id)
    if not m or not 1 <= n <= 99999: raise ValueError("bad pool id or number")
    loc, cls, _, ser = m.groups()
    if cls == "car" and ser in SERIES_CAR: return "%s%s-%03d.%02d" % (loc, ser, n // 100, n % 100)
    if cls == "motorbike" and re.fullmatch(r"[A-Z][A-Z0-9]", ser):
        return "%s-%s %03d.%02d" % (loc, ser, n // 100, n % 100)
    raise ValueError("bad series for class")

def pool_digest(bitmap):
    level = [H(b"\x00" + bitmap[i:i + 32]) for i in range(0, 16384, 32)]
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]

def bitmap_ok(b):
    return len(b) == 16384 and not b[0] & 1 and not any(b[12500:])  # 99999 = 8*12499 + 7

def available(b):
    return [i for i in range(1, 100000) if b[i >> 3] >> (i & 7) & 1]

def set_bit(b, i, v):
    b[i >> 3] = (b[i >> 3] | (1 << (i & 7))) if v else (b[i >> 3] & ~(1 << (i & 7)))

# ---------------------------------------------------------------- receipts (§7)
class Fail(Exception):
    def __init__(self, check, detail):
        super().__init__(detail); self.check = check

def check(name, cond, detail):
    if not cond: raise Fail(name, detail)

def b64(s, n=None):
    v = base64.b64decode(s, validate=True)
    if n is not None and len(v) != n: raise ValueError("expected %d bytes" % n)
    return v

def verify_receipt(rc, trust):
    """Returns the plate, or raises Fail(check, detail)."""
    check("version", isinstance(rc, dict) and rc.get("version") == RECEIPT_VERSION, "not %s" % RECEIPT_VERSION)
    try: origin, N, root = open_checkpoint(rc["checkpoint"], trust["log_key"])
    except (KeyError, ValueError, TypeError, AttributeError) as e: raise Fail("checkpoint", str(e) or repr(e))
    check("checkpoint", origin == trust.get("log_origin"), "origin %r is not the pinned one" % origin)
    ent = {}
    for part in ("commit", "result"):
        try:
            o = rc[part]
            idx, e, proof = o["index"], b64(o["entry"]), [b64(p, 32) for p in o["proof"]]
            ok = type(idx) is int and 0 <= idx < N and verify_inclusion(leaf_hash(e), idx, N, proof, root)
        except (KeyError, ValueError, TypeError) as x: ok, idx, e = False, repr(x), None
        check(part + "-inclusion", ok, "entry not included at index %s in tree of size %d" % (idx, N))
        ent[part] = (idx, e)
    (ci, ce), (ri, re_) = ent["commit"], ent["result"]
    for part, raw, kind in (("commit", ce, "draw-commit"), ("result", re_, "draw-result")):
        try: d = decode_entry(raw)
        except ValueError as x: raise Fail(part + "-entry", "does not decode: %s" % x)
        check(part + "-entry", d["kind"] == kind, "is %s, not %s" % (d["kind"], kind))
        ent[part] = d
    C, D = ent["commit"], ent["result"]
    check("order", ci < ri, "commit index %d not below result index %d" % (ci, ri))
    check("link", D["commit_index"] == ci, "result names commit index %d, not %d" % (D["commit_index"], ci))
    check("link", D["commit_hash"] == leaf_hash(ce), "commit_hash is not the commit's leaf hash")
    for f in ("pool_id", "beacon_id", "round"):
        check("link", D[f] == C[f], "%s differs: %r vs %r" % (f, D[f], C[f]))
    check("rules", C["rules_version"] == RULES, "rules version %r" % C["rules_version"])
    salt, app = rc.get("salt"), rc.get("application_id")
    check("commitment", isinstance(salt, str) and re.fullmatch(r"[0-9a-f]{64}", salt) and isinstance(app, str)
          and app_commitment(bytes.fromhex(salt), app) == C["application_commitment"],
          "salt/application_id do not open application_commitment")
    pins = {b.get("beacon_id"): b for b in trust.get("beacons", [])}
    pin, rnd = pins.get(C["beacon_id"]), C["round"]
    check("beacon", pin is not None, "beacon %r is not pinned" % C["beacon_id"])
    check("beacon", bls_verify(bytes.fromhex(pin["public_key"]), rnd, D["signature"]),
          "signature invalid for round %d under the pinned key" % rnd)
    check("beacon", D["randomness"] == H(D["signature"]), "randomness != H(signature)")
    publish = pin["genesis_unix_ms"] + (rnd - 1) * pin["period_ms"]
    check("commit-before-beacon", rnd >= 1 and C["at_ms"] < publish,
          "commit at_ms %d not before round %d at %d" % (C["at_ms"], rnd, publish))
    seed = draw_seed(leaf_hash(ce), rnd, D["randomness"])
    check("seed", D["seed"] == seed, "seed mismatch, expected %s" % seed.hex())
    try: bm = b64(rc["pool_bitmap"])
    except (KeyError, ValueError, TypeError) as x: raise Fail("pool", "pool_bitmap: %r" % x)
    check("pool", bitmap_ok(bm), "bitmap malformed (length %d or stray bits)" % len(bm))
    check("pool", pool_digest(bm) == D["pool_digest"], "pool digest mismatch")
    avail = available(bm)
    check("pool", len(avail) == D["available_count"] >= 1,
          "bitmap has %d available, result says %d" % (len(avail), D["available_count"]))
    idx = sample(words(seed), D["available_count"])
    check("index", idx == D["index"], "sampler gives %d, result says %d" % (idx, D["index"]))
    check("plate", avail[idx] == D["number"], "index %d is number %d, not %d" % (idx, avail[idx], D["number"]))
    try: text = plate_text(C["pool_id"], D["number"])
    except ValueError as x: raise Fail("plate", "%s: %r" % (x, C["pool_id"]))
    check("plate", D["plate"] == text and rc.get("plate") == text,
          "plate text %r; result %r, receipt %r" % (text, D["plate"], rc.get("plate")))
    return text

def run_file(path, trust):
    try:
        with open(path, "rb") as f: rc = json.loads(f.read())
    except (OSError, ValueError) as x:
        return Fail("version", "unreadable receipt: %s" % x), None
    try: return None, verify_receipt(rc, trust)
    except Fail as x: return x, None
    except Exception as x:  # malformed input not covered above: still a rejection, never a crash
        return Fail("malformed", "%s: %s" % (type(x).__name__, x)), None

# ---------------------------------------------------------------- self-test
def self_test():
    here = os.path.dirname(os.path.abspath(__file__))
    V = json.load(open(os.path.join(here, "vectors.json")))
    res = {"pass": 0, "fail": 0}
    def t(name, ok, info=""):
        res["pass" if ok else "fail"] += 1
        if not ok: print("MISMATCH", name, info)
    def warn(msg): print("WARN", msg)
    w = words(bytes(32))
    t("chacha20 zero-key words", [next(w) for _ in V["chacha20_zero_key_words_le_u64"]]
      == [int(x, 16) for x in V["chacha20_zero_key_words_le_u64"]])
    for s in V["sampler"]:
        st, n = words(bytes.fromhex(s["seed"])), int(s["n"])
        t("sampler n=%s" % s["n"], [sample(st, n) for _ in s["indices"]] == [int(i) for i in s["indices"]])
    c = V["commitment"]
    t("commitment", app_commitment(bytes.fromhex(c["salt"]), c["application_id"]).hex() == c["commitment"])
    s = V["seed"]
    t("seed", draw_seed(bytes.fromhex(s["commit_hash"]), s["round"], bytes.fromhex(s["randomness"])).hex() == s["seed"])
    raws, decoded, bm = [], [], bytearray(16384)
    for i, e in enumerate(V["entries"]):
        raw = bytes.fromhex(e["hex"]); d = decode_entry(raw)
        raws.append(raw); decoded.append(d)
        t("entry %d kind" % i, d["kind"] == e["kind"], d["kind"])
        t("entry %d leaf hash" % i, leaf_hash(raw).hex() == e["leaf_hash"])
        t("entry %d strict (truncated rejected)" % i, _rejects(raw[:-1]) and _rejects(raw + b"\0"))
        if d["kind"] == "pool-open":
            for n in range(1, 100000): set_bit(bm, n, 1)
            t("fresh pool digest", pool_digest(bm).hex() == V["pool"]["fresh_digest"])
        elif d["kind"] == "pool-withhold":
            for n in d["numbers"]: set_bit(bm, n, 0)
    P = V["pool"]
    t("special patterns = withhold entry", decoded[1]["numbers"] == P["special_patterns"])
    t("pool digest after special patterns", pool_digest(bm).hex() == P["digest_after_special_patterns"])
    avail = available(bm)
    for x in P["nth_available_after_special_patterns"]:
        t("nth available k=%d" % x["k"], avail[x["k"]] == x["number"])
    leaves = [leaf_hash(r) for r in raws]
    T = V["tree"]; hx = lambda l: [bytes.fromhex(h) for h in l]
    t("tree root", mth(leaves).hex() == T["root"] and T["size"] == len(leaves))
    t("tree root of 3", mth(leaves[:3]).hex() == T["root_of_3"])
    root, root3 = bytes.fromhex(T["root"]), bytes.fromhex(T["root_of_3"])
    t("inclusion of 2 in 4", verify_inclusion(leaves[2], 2, 4, hx(T["inclusion_of_2_in_4"]), root))
    t("inclusion negative", not verify_inclusion(leaves[3], 2, 4, hx(T["inclusion_of_2_in_4"]), root))
    t("consistency 3 to 4", verify_consistency(3, 4, hx(T["consistency_3_to_4"]), root3, root))
    t("consistency negative", not verify_consistency(3, 4, hx(T["consistency_3_to_4"])[:2], root3, root))
    for p in V["plates"]:
        t("plate %s" % p["plate"], plate_text(p["pool_id"], p["number"]) == p["plate"])
    # the full draw example, cross-checked against the draw-commit / draw-result entries
    Dv = V["draw"]; C, D = decode_entry(bytes.fromhex(Dv["commit_hex"])), decoded[3]
    sig = bytes.fromhex(Dv["signature"])
    t("draw randomness", H(sig).hex() == Dv["randomness"])
    seed = draw_seed(leaf_hash(bytes.fromhex(Dv["commit_hex"])), Dv["round"], H(sig))
    t("draw seed", seed.hex() == Dv["seed"])
    t("draw pool", len(avail) == Dv["available_count"] and pool_digest(bm).hex() == Dv["pool_digest"])
    idx = sample(words(seed), len(avail))
    t("draw index/number/plate", idx == Dv["index"] and avail[idx] == Dv["number"]
      and plate_text(Dv["pool_id"], avail[idx]) == Dv["plate"])
    t("draw result entry fields", (D["signature"], D["randomness"], D["seed"], D["available_count"],
      D["pool_digest"].hex(), D["index"], D["number"], D["plate"], D["round"], D["commit_hash"], D["commit_index"])
      == (sig, H(sig), seed, len(avail), Dv["pool_digest"], idx, Dv["number"], Dv["plate"], Dv["round"],
          leaves[2], Dv["commit_index"]))
    t("draw commit = entries[2]", Dv["commit_hex"] == V["entries"][2]["hex"] and C["rules_version"] == RULES)
    if D["commit_index"] != 2:
        warn("vectors: the draw-result (entry 3) names commit_index %d, but the tree vectors place the "
             "draw-commit at 0-based log index 2; as a log these 4 entries would fail §5 condition 1 "
             "(`link`/`order`)" % D["commit_index"])
    pub = 1692803367000 + (Dv["round"] - 1) * 3000
    if not C["at_ms"] < pub:
        warn("vectors: the draw-commit at_ms %d is not before round %d's publication %d "
             "(quicknet): a receipt for this draw would fail `commit-before-beacon`" % (C["at_ms"], Dv["round"], pub))
    # RFC 8032 §7.1 tests 1 and 2
    for pk, m, sg in (("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
                       "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
                      ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
                       "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")):
        pk, m, sg = bytes.fromhex(pk), bytes.fromhex(m), bytes.fromhex(sg)
        t("ed25519 RFC 8032 msg=%r" % m.hex(), ed25519_verify(pk, m, sg))
        t("ed25519 rejects tampering", not ed25519_verify(pk, m + b"x", sg)
          and not ed25519_verify(pk, m, sg[:-1] + bytes([sg[-1] ^ 1])))
    # RFC 9380 J.9.1 hash_to_curve G1 vectors
    from py_ecc.bls.hash_to_curve import hash_to_G1
    from py_ecc.optimized_bls12_381 import normalize
    for msg, x, y in RFC9380_G1:
        px, py = normalize(hash_to_G1(msg, b"QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_", hashlib.sha256))
        t("RFC 9380 J.9.1 msg=%r" % msg[:8], (px.n, py.n) == (int(x, 16), int(y, 16)))
    qpath = os.path.join(here, "..", "beacons", "drand-quicknet.json")
    if os.path.exists(qpath):
        Q = json.load(open(qpath)); pk = bytes.fromhex(Q["public_key"])
        t("quicknet params", Q["scheme"] == "bls-unchained-g1-rfc9380" and Q["genesis_unix"] == 1692803367
          and Q["period_seconds"] == 3 and Q["beacon_id"] == "drand-quicknet")
        for r in Q["rounds"]:
            sg = bytes.fromhex(r["signature"])
            t("quicknet round %d" % r["round"], bls_verify(pk, r["round"], sg) and H(sg).hex() == r["randomness"])
        t("quicknet tampered round rejected", not bls_verify(pk, Q["rounds"][0]["round"] + 1,
                                                             bytes.fromhex(Q["rounds"][0]["signature"])))
        t("draw signature is the recorded round",
          any(r["round"] == Dv["round"] and r["signature"] == Dv["signature"] for r in Q["rounds"]))
    else:
        warn("no contracts/beacons/drand-quicknet.json: beacon rounds not checked")
    print("self-test: %d passed, %d failed" % (res["pass"], res["fail"]))
    return res["fail"] == 0

def _rejects(raw):
    try: decode_entry(raw)
    except ValueError: return True
    return False

RFC9380_G1 = [(b"", "052926add2207b76ca4fa57a8734416c8dc95e24501772c814278700eed6d1e4e8cf62d9c09db0fac349612b759e79a1",
               "08ba738453bfed09cb546dbb0783dbb3a5f1f566ed67bb6be0e8c67e2e81a4cc68ee29813bb7994998f3eae0c9c6a265"),
              (b"abc", "03567bc5ef9c690c2ab2ecdf6a96ef1c139cc0b2f284dca0a9a7943388a49a3aee664ba5379a7655d3c68900be2f6903",
               "0b9c15f3fe6e5cf4211f346271d7b01c8f3b28be689c8429c85b67af215533311f0b8dfaaa154fa6b88176c229f2885d"),
              (b"abcdef0123456789", "11e0b079dea29a68f0383ee94fed1b940995272407e3bb916bbf268c263ddd57a6a27200a784cbc248e84f357ce82d98",
               "03a87ae2caf14e8ee52e51fa2ed8eefe80f02457004ba4d486d6aa1f517c0889501dc7413753f9599b099ebcbbd2d709"),
              (b"q128_" + b"q" * 128, "15f68eaa693b95ccb85215dc65fa81038d69629f70aeee0d0f677cf22285e7bf58d7cb86eefe8f2e9bc3f8cb84fac488",
               "1807a1d50c29f430b8cafc4f8638dfeeadf51211e1602a5f184443076715f91bb90a48ba1e370edce6ae1062f5e6dd38"),
              (b"a512_" + b"a" * 512, "082aabae8b7dedb0e78aeb619ad3bfd9277a2f77ba7fad20ef6aabdc6c31d19ba5a6d12283553294c1825c4b3ca2dcfe",
               "05b84ae5a942248eea39e1d91030458c40153f3b654ab7872d779ad1e942856a20c438e8d99bc8abfbf74729ce1f7ac8")]

# ---------------------------------------------------------------- CLI
def main(argv):
    if argv[:1] == ["--self-test"]:
        return 0 if self_test() else 1
    if len(argv) == 2 and argv[0] == "--cases":
        d = argv[1]
        trust, cases, good = json.load(open(os.path.join(d, "trust.json"))), json.load(open(os.path.join(d, "cases.json"))), True
        for c in cases:
            err, plate = run_file(os.path.join(d, c["file"]), trust)
            if c["valid"]:
                good &= err is None
                print(("OK %s %s" % (plate, c["file"])) if err is None else
                      "UNEXPECTED FAIL %s %s: %s" % (err.check, c["file"], err))
            elif err is None:
                good = False; print("UNEXPECTED OK %s %s (expected %s)" % (plate, c["file"], c.get("check")))
            else:
                print("REJECTED %s %s: %s [expected %s: %s]" % (err.check, c["file"], err, c.get("check"),
                      "same" if err.check == c.get("check") else "DIFFERENT"))
        return 0 if good else 1
    if len(argv) >= 3 and argv[0] == "--trust":
        trust, good = json.load(open(argv[1])), True
        for path in argv[2:]:
            err, plate = run_file(path, trust)
            print("OK %s %s" % (plate, path) if err is None else "FAIL %s %s: %s" % (err.check, path, err))
            good &= err is None
        return 0 if good else 1
    print(__doc__, file=sys.stderr)
    return 2

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
