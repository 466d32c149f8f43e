#!/usr/bin/env python3
"""Independent verifier of plate-draw receipts (vrs-receipt-v2, rules vrs-draw-rules-v2).

Written from contracts/draw/SPEC.md (v2) and vectors.json alone, without reading the
reference implementation, to show that the specification is sufficient.
Python 3.11 standard library, plus py_ecc (8.0.0) for BLS12-381 only.

  verify_receipt.py --trust TRUST.json RECEIPT.json [...]   one line per receipt:
        "OK <plate> <file>" or "FAIL <check> <file>: <detail>" naming the first failing
        check of SPEC §7.3; exit 0 iff all OK (2 if the trust file is refused, §7.2)
  verify_receipt.py --self-test    recompute vectors.json, verify the recorded drand
        quicknet rounds, RFC 8032 / RFC 9380 self-tests, signed-note (§6.3) and receipt
        grammar (§7.1) self-tests
  verify_receipt.py --cases DIR    DIR/trust.json, DIR/cases.json = [{"file", "valid", "check"}]:
        every valid case must verify and every tampered one fail at exactly "check"
  Without py_ecc, every mode says so and exits 3, judging no receipt.

TRUST.json: {"log_origin": "...", "log_key": "<name>+<hex id>+<b64(0x01||pk)>", "beacons":
  [{"beacon_id", "public_key" (hex, G2), "genesis_unix_ms", "period_ms"}]} (§7.2; other members are ignored).
  log_key may be any key the log has had: check "rotations" follows the receipt's key rotations (§6.4) from it.
"""
import base64, hashlib, json, os, re, struct, sys

H = lambda b: hashlib.sha256(b).digest()
RULES, RECEIPT_VERSION, MAGIC = "vrs-draw-rules-v2", "vrs-receipt-v2", b"VRS2"
NONE, SCHEME = 2**64 - 1, "bls-unchained-g1-rfc9380"
BLS_DST = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"
CHECKS = ("format rotations checkpoint commit-inclusion result-inclusion commit-entry result-entry rules order link "
          "commitment beacon commit-before-beacon previous seed pool taken index plate").split()  # §7.3

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

def candidates(seed, avail):
    """§5.2: candidate j is the number at the j-th index the sampler returns from seed's stream."""
    stream = words(seed)
    while True:
        i = sample(stream, len(avail))
        yield i, avail[i]

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
    0x10: ("draw-commit", "pool_id:str rules_version:str application_commitment:hash beacon_id:str "
           "round:u64 previous_commit:u64 available_count:u32 pool_digest:hash at_ms:u64"),
    0x11: ("draw-result", "commit_index:u64 commit_hash:hash pool_id:str beacon_id:str round:u64 "
           "signature:bytes randomness:hash seed:hash attempts:u32 index:u32 number:u32 plate:str at_ms:u64"),
    0x20: ("key-rotation", "old_key:str new_key:str reason:str at_ms:u64"),  # the keys are checked where used (§6.4, §7.3)
}

def decode_entry(e):
    """Strict decoding; raises ValueError. Returns dict with 'kind' = name."""
    if len(e) < 5 or e[:4] != MAGIC or e[4] not in KINDS:
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

def _ed_encode(P):
    zi = pow(P[2], -1, EP)
    return (P[1] * zi % EP | (P[0] * zi % EP & 1) << 255).to_bytes(32, "little")

def ed25519_sign(secret, msg):  # RFC 8032 §5.1.6; only the self-tests sign
    h = hashlib.sha512(secret).digest()
    a = int.from_bytes(h[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    A = _ed_encode(_ed_mul(a, _EB))
    r = int.from_bytes(hashlib.sha512(h[32:] + msg).digest(), "little") % EL
    R = _ed_encode(_ed_mul(r, _EB))
    k = int.from_bytes(hashlib.sha512(R + A + msg).digest(), "little") % EL
    return A, R + ((r + k * a) % EL).to_bytes(32, "little")

# ---------------------------------------------------------------- signed notes (§6.3)
WS = "\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"  # the Unicode White_Space property
UNICODE_WS, SIG_LINE = re.compile("[%s]" % WS), re.compile("\u2014 ([^+%s]+) (.*)" % WS, re.S)  # §6.3: key names

def b64c(s, n=None, least=0):
    """Canonical base64 (§7.1): the string equals the encoding of the bytes it decodes to."""
    if type(s) is not str: raise ValueError("not a string")
    v = base64.b64decode(s, validate=True)  # non-ASCII or bad alphabet/padding: ValueError
    if base64.b64encode(v).decode() != s: raise ValueError("base64 is not canonical")
    if n is not None and len(v) != n or len(v) < least:
        raise ValueError("base64 decodes to %d bytes, not %s" % (len(v), n if n is not None else ">= %d" % least))
    return v

def parse_verifier_key(vkey):
    """<name>+<hex id>+<b64(0x01||pk)>; returns (name, key_id, pk) or raises ValueError."""
    if type(vkey) is not str or vkey.count("+") < 2: raise ValueError("malformed verifier key")
    name, idhex, b64 = vkey.split("+", 2)  # base64 may itself contain "+"
    raw = b64c(b64)
    if not name or UNICODE_WS.search(name) or not re.fullmatch(r"[0-9a-f]{8}", idhex) \
            or len(raw) != 33 or raw[0] != 1:
        raise ValueError("malformed verifier key")
    kid = H(name.encode() + b"\n" + raw)[:4]
    if kid.hex() != idhex:
        raise ValueError("key id does not match name and key")
    return name, kid, raw[1:]

def open_checkpoint(note, key, origin):
    """Opens a signed checkpoint note with key = (name, key_id, pk) in §6.3's order;
    returns (size, root) or raises ValueError."""
    name, kid, pk = key
    if type(note) is not str: raise ValueError("not a string")
    try: note.encode("utf-8")
    except UnicodeEncodeError: raise ValueError("note is not valid UTF-8")            # 1
    if re.search("[\x00-\x09\x0b-\x1f]", note) or not note.endswith("\n"):
        raise ValueError("control character, or no final newline")
    i = note.rfind("\n\n")                                                               # 2
    if i < 0 or i + 2 == len(note): raise ValueError("no signature block")
    text, lines = note[:i + 1], note[i + 2:-1].split("\n")
    if len(lines) > 16: raise ValueError("%d signature lines (at most 16)" % len(lines))  # 3
    sigs = []
    for line in lines:
        m = SIG_LINE.fullmatch(line)
        try: sigs.append((m.group(1), b64c(m.group(2), least=5)))
        except (AttributeError, ValueError): raise ValueError("malformed signature line %r" % line)
    ok = False
    for n, raw in sigs:                                                                  # 4
        if n == name and raw[:4] == kid:
            if len(raw) != 68 or not ed25519_verify(pk, text.encode(), raw[4:]):
                raise ValueError("a signature by the pinned key %s does not verify" % name)
            ok = True
    if not ok: raise ValueError("no signature by the pinned key %s+%s" % (name, kid.hex()))  # 5
    body = text.split("\n")[:-1]                                                         # 6
    if len(body) != 3 or not body[0] or not re.fullmatch(r"0|[1-9][0-9]{0,19}", body[1]) or int(body[1]) > NONE:
        raise ValueError("checkpoint text is not origin / tree size / root hash")
    if body[0] != origin: raise ValueError("origin %r is not the pinned %r" % (body[0], origin))
    return int(body[1]), b64c(body[2], 32)

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

def on_time(at_ms, rnd, genesis, period):  # §5.3: round published at least a period after the commit
    return rnd >= 1 and at_ms + period <= genesis + (rnd - 1) * period

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
    assert name in CHECKS, name
    if not cond: raise Fail(name, detail)

def _int(s):  # §7.1: 0 or a non-zero digit followed by digits, at most 2^53 - 1
    if not re.fullmatch(r"0|[1-9][0-9]{0,15}", s) or int(s) > 2**53 - 1: raise ValueError("integer %s" % s)
    return int(s)

def _not_int(s): raise ValueError("not an integer: %s" % s)

def _members(pairs):
    d = dict(pairs)
    if len(d) != len(pairs): raise ValueError("duplicate member name")
    return d

def load_json(raw):
    """Strict JSON (§7.1): UTF-8 without BOM, no duplicate member names, integers only."""
    if raw[:3] == b"\xef\xbb\xbf": raise ValueError("byte-order mark")
    v = json.loads(raw.decode("utf-8"), object_pairs_hook=_members, parse_int=_int,
                   parse_float=_not_int, parse_constant=_not_int)
    json.dumps(v, ensure_ascii=False).encode("utf-8")  # a lone surrogate escape (\ud800) is no Unicode text
    return v

class Absent:  # an optional member (§7.1): may be left out, and then reads as default
    def __init__(self, t, default): self.t, self.default = t, default

LOGGED = {"index": "int", "entry": "entry", "proof": ["hash", 64]}
ROTATION = {"checkpoint": "str", "rotation": LOGGED}  # its proof is to its own (handover) note
BEACON = {"beacon_id": "str", "scheme": "str", "public_key": "hex", "genesis_unix_ms": "int", "period_ms": "int",
          "round": "int", "signature": "hex", "randomness": "hex64"}
RECEIPT = {"version": "version", "plate": "str", "application_id": "nonempty", "salt": "hex64", "checkpoint": "str",
           "commit": LOGGED, "result": LOGGED, "previous": (None, LOGGED), "taken": [LOGGED, None],
           "beacon": BEACON, "pool_bitmap": "bitmap", "rotations": Absent([ROTATION, None], [])}
HEX = re.compile(r"(?:[0-9a-f]{2})*")
ATOMS = {"str": lambda v: type(v) is str, "nonempty": lambda v: type(v) is str and v != "",
         "version": lambda v: v == RECEIPT_VERSION, "int": lambda v: type(v) is int,
         "hex": lambda v: type(v) is str and HEX.fullmatch(v) and bytes.fromhex(v),
         "hex64": lambda v: type(v) is str and len(v) == 64 and HEX.fullmatch(v) and bytes.fromhex(v),
         "entry": lambda v: b64c(v, least=5), "hash": lambda v: b64c(v, 32), "bitmap": lambda v: b64c(v, 16384)}

def conform(v, t, where="receipt"):
    """Checks v against the grammar t; returns v with hex and base64 decoded to bytes."""
    if type(t) is dict:
        if type(v) is not dict: raise ValueError("%s is not an object" % where)
        need = {k for k in t if type(t[k]) is not Absent}
        if not need <= set(v) <= set(t):
            raise ValueError("%s: unknown %s, missing %s" % (where, sorted(set(v) - set(t)), sorted(need - set(v))))
        return {k: conform(v[k], t[k], where + "." + k) if k in v else t[k].default for k in t}
    if type(t) is Absent:  # present: its value follows the grammar like any other member's
        return conform(v, t.t, where)
    if type(t) is list:
        if type(v) is not list or t[1] is not None and len(v) > t[1]:
            raise ValueError("%s is not a list%s" % (where, "" if t[1] is None else " of at most %d" % t[1]))
        return [conform(x, t[0], "%s[%d]" % (where, i)) for i, x in enumerate(v)]
    if type(t) is tuple:
        return None if v is None else conform(v, t[1], where)
    ok = ATOMS[t](v)
    if ok is False or ok is None: raise ValueError("%s is not %s" % (where, t))
    return ok if type(ok) is bytes else v

def parse_receipt(raw):
    try: return conform(load_json(raw), RECEIPT)
    except (ValueError, RecursionError) as x: raise Fail("format", str(x) or repr(x))

class _Members(dict):  # a trust file's object, remembering which member names it repeats
    def __init__(self, pairs): super().__init__(pairs); seen = set(); self.twice = {k for k, _ in pairs if k in seen or seen.add(k)}

def _used(o, *names):  # the members of o that §7.2 uses; the others are ignored, whatever they hold
    if type(o) is not _Members or o.twice & set(names): raise ValueError("not an object, or a used member repeated")
    return [o.get(k) for k in names]

def load_trust(raw):
    """Pinned trust (§7.2); raises ValueError if it is refused. The members it uses follow §7.1's value
    rules; other members are ignored, so their values (floats, repeats, lone surrogates...) never refuse it."""
    if raw[:3] == b"\xef\xbb\xbf": raise ValueError("byte-order mark")
    odd = lambda s: (s,)  # a number outside §7.1's integers: refused only where it is used
    t = json.loads(raw.decode("utf-8"), object_pairs_hook=_Members, parse_float=odd, parse_constant=odd,
                   parse_int=lambda s: int(s) if re.fullmatch(r"0|[1-9][0-9]{0,15}", s) and int(s) < 2**53 else odd(s))
    text = lambda v: type(v) is str and not re.search("[\ud800-\udfff]", v)  # decodes to Unicode text
    origin, key, beacons = _used(t, "log_origin", "log_key", "beacons")
    if not text(origin) or not origin or type(beacons) is not list:
        raise ValueError("trust needs log_origin, log_key and beacons")
    out = {"origin": origin, "key": parse_verifier_key(key), "key_text": key, "beacons": {}}  # a malformed log key is refused
    for b in beacons:
        bid, pk, g, p = _used(b, "beacon_id", "public_key", "genesis_unix_ms", "period_ms")
        if not text(bid) or type(pk) is not str or not re.fullmatch("[0-9a-f]{192}", pk) \
                or type(g) is not int or type(p) is not int or p == 0 or bid in out["beacons"]:
            raise ValueError("malformed or repeated pinned beacon %r (key 96 bytes of hex, period not 0)" % (bid,))
        pk = bytes.fromhex(pk)
        if bid.startswith("vrs-local-") and bid != "vrs-local-" + H(pk)[:4].hex():
            raise ValueError("local beacon id %s does not match its key (vrs-local-%s)" % (bid, H(pk)[:4].hex()))
        out["beacons"][bid] = {"public_key": pk, "genesis_unix_ms": g, "period_ms": p}
    return out

def verify_receipt(raw, trust):
    """raw: the receipt's bytes; trust: from load_trust. Returns the plate, or raises
    Fail(check, detail) naming the first failing check of §7.3."""
    r = parse_receipt(raw)                                                                       # 1
    T, key, Hs, followed = trust["key_text"], trust["key"], 0, False                            # 2
    for j, X in enumerate(r["rotations"]):
        K, at = X["rotation"], "rotations[%d]" % j
        try: E = decode_entry(K["entry"])
        except ValueError as x: raise Fail("rotations", "%s does not decode: %s" % (at, x))
        check("rotations", E["kind"] == "key-rotation", "%s is a %s, not a key-rotation" % (at, E["kind"]))
        if E["old_key"] != T:  # hands over to or before the pinned key; after one followed, the chain is broken
            check("rotations", not followed, "%s hands over from %r, not from the key in force %r" % (at, E["old_key"], T))
            continue
        try: new = parse_verifier_key(E["new_key"])
        except ValueError as x: raise Fail("rotations", "%s: new_key %r: %s" % (at, E["new_key"], x))
        check("rotations", E["new_key"] != T, "%s: new_key is old_key" % at)
        try:  # one note that opens with T and with new_key (§6.3: each key ignores the other's lines)
            n, hroot = open_checkpoint(X["checkpoint"], key, trust["origin"])
            open_checkpoint(X["checkpoint"], new, trust["origin"])
        except ValueError as x: raise Fail("rotations", "%s: handover note: %s" % (at, x))
        check("rotations", n == K["index"] + 1 and n > Hs, "%s: handover of size %d for a rotation at index %d "
              "(after a handover of size %d)" % (at, n, K["index"], Hs))
        check("rotations", verify_inclusion(leaf_hash(K["entry"]), K["index"], n, K["proof"], hroot),
              "%s: entry not included at index %d in the handover's tree" % (at, K["index"]))
        T, key, Hs, followed = E["new_key"], new, n, True
    try: N, root = open_checkpoint(r["checkpoint"], key, trust["origin"])                        # 3
    except ValueError as x: raise Fail("checkpoint", "%s (key %s)" % (x, T))
    check("checkpoint", N >= Hs, "tree size %d is below the handover followed (size %d)" % (N, Hs))
    def included(o): return verify_inclusion(leaf_hash(o["entry"]), o["index"], N, o["proof"], root)
    def draw_result(o):
        try: d = decode_entry(o["entry"])
        except ValueError: return None
        return d if d["kind"] == "draw-result" else None
    for part in ("commit", "result"):                                                          # 4
        check(part + "-inclusion", included(r[part]),
              "entry not included at index %d in the tree of size %d" % (r[part]["index"], N))
    ent = {}
    for part, kind in (("commit", "draw-commit"), ("result", "draw-result")):                   # 5
        try: ent[part] = decode_entry(r[part]["entry"])
        except ValueError as x: raise Fail(part + "-entry", "does not decode: %s" % x)
        check(part + "-entry", ent[part]["kind"] == kind, "is a %s, not a %s" % (ent[part]["kind"], kind))
    C, D, ce, ci, ri = ent["commit"], ent["result"], r["commit"]["entry"], r["commit"]["index"], r["result"]["index"]
    check("rules", C["rules_version"] == RULES, "rules version %r" % C["rules_version"])          # 6
    check("order", ci < ri, "commit index %d is not below result index %d" % (ci, ri))             # 7
    check("link", D["commit_index"] == ci, "result names commit index %d, not %d" % (D["commit_index"], ci))  # 8
    check("link", D["commit_hash"] == leaf_hash(ce), "commit_hash is not the commit's leaf hash")
    for f in ("pool_id", "beacon_id", "round"):
        check("link", D[f] == C[f], "%s differs: %r vs %r" % (f, D[f], C[f]))
    check("commitment", app_commitment(r["salt"], r["application_id"]) == C["application_commitment"],   # 9
          "salt and application_id do not open application_commitment")
    pin, rnd = trust["beacons"].get(C["beacon_id"]), C["round"]                                  # 10
    check("beacon", pin is not None, "beacon %r is not pinned" % C["beacon_id"])
    check("beacon", bls_verify(pin["public_key"], rnd, D["signature"]),
          "signature invalid for round %d under the pinned key" % rnd)
    check("beacon", D["randomness"] == H(D["signature"]), "randomness is not H(signature)")
    said = {"beacon_id": C["beacon_id"], "scheme": SCHEME, "public_key": pin["public_key"], "round": rnd,
            "genesis_unix_ms": pin["genesis_unix_ms"], "period_ms": pin["period_ms"],
            "signature": D["signature"], "randomness": D["randomness"]}
    for k, v in said.items():
        check("beacon", r["beacon"][k] == v, "receipt's beacon.%s differs from the pinned/logged value" % k)
    G, p = pin["genesis_unix_ms"], pin["period_ms"]                                             # 11
    check("commit-before-beacon", on_time(C["at_ms"], rnd, G, p),
          "commit at_ms %d + period %d is after round %d's publication at %d" % (C["at_ms"], p, rnd, G + (rnd - 1) * p))
    P, pc = r["previous"], C["previous_commit"]                                                  # 12
    if pc == NONE:
        check("previous", P is None, "previous_commit is NONE but previous is not null")
    else:
        check("previous", P is not None, "previous is null but previous_commit is %d" % pc)
        check("previous", included(P), "previous not included at index %d" % P["index"])
        E = draw_result(P)
        check("previous", E is not None and E["pool_id"] == C["pool_id"] and E["commit_index"] == pc,
              "previous is not a draw-result of pool %r answering commit %d" % (C["pool_id"], pc))
        check("previous", P["index"] < ri, "previous index %d is not below the result's %d" % (P["index"], ri))
    seed = draw_seed(leaf_hash(ce), rnd, D["randomness"])                                       # 13
    check("seed", D["seed"] == seed, "seed mismatch, expected %s" % seed.hex())
    bm, n = r["pool_bitmap"], C["available_count"]                                               # 14
    check("pool", bitmap_ok(bm), "bitmap has bit 0 or bits above 99999 set")
    check("pool", pool_digest(bm) == C["pool_digest"], "bitmap digest is not the commit's pool_digest")
    avail = available(bm)
    check("pool", len(avail) == n >= 1, "bitmap has %d available, commit says %d" % (len(avail), n))
    att, cands, shown = D["attempts"], candidates(seed, avail), set()                           # 15
    check("taken", att >= 1 and len(r["taken"]) == att - 1, "attempts %d with %d taken" % (att, len(r["taken"])))
    for j, T in enumerate(r["taken"], 1):
        (_, cand), E = next(cands), draw_result(T)
        check("taken", included(T), "taken[%d] not included at index %d" % (j - 1, T["index"]))
        check("taken", E is not None and E["pool_id"] == C["pool_id"] and E["number"] == cand,
              "taken[%d] is not a draw-result of pool %r drawing candidate %d = %d" % (j - 1, C["pool_id"], j, cand))
        check("taken", E["commit_index"] < ci < T["index"] < ri, "taken[%d]: commit %d, index %d not in order "
              "with commit %d, result %d" % (j - 1, E["commit_index"], T["index"], ci, ri))
        shown.add(cand)
    idx, num = next(cands)  # candidate attempts: the sampler can repeat an index, and one shown taken cannot be drawn
    check("taken", num not in shown, "candidate %d = %d is shown taken by an earlier draw" % (att, num))
    check("index", idx == D["index"], "sampler gives %d for candidate %d, result says %d" % (idx, att, D["index"]))  # 16
    check("plate", num == D["number"], "position %d is number %d, not %d" % (idx, num, D["number"]))  # 17
    try: text = plate_text(C["pool_id"], D["number"])
    except ValueError as x: raise Fail("plate", "%s: %r" % (x, C["pool_id"]))
    check("plate", D["plate"] == text == r["plate"],
          "plate text %r; result %r, receipt %r" % (text, D["plate"], r["plate"]))
    return text

def run_file(path, trust):
    try:
        with open(path, "rb") as f: raw = f.read()
    except OSError as x:
        return Fail("format", "unreadable receipt: %s" % x), None
    try: return None, verify_receipt(raw, trust)
    except Fail as x: return x, None
    except ImportError: raise  # a missing dependency is never a verdict (main checks it first)
    except Exception as x:  # a bug of this verifier, never a verdict: named so that --cases disagrees
        return Fail("internal-error", "%s: %s" % (type(x).__name__, x)), None

# ---------------------------------------------------------------- self-test
def self_test():
    here = os.path.dirname(os.path.abspath(__file__))
    V = json.load(open(os.path.join(here, "vectors.json")))
    res = {"pass": 0, "fail": 0}
    def t(name, ok, info=""):
        res["pass" if ok else "fail"] += 1
        if not ok: print("MISMATCH", name, info)
    t("vectors are v2", V.get("spec") == RULES, V.get("spec"))
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
    for i, e in enumerate(V["log"] + V["more_entries"]):
        raw = bytes.fromhex(e["hex"]); d = decode_entry(raw)
        raws.append(raw); decoded.append(d)
        t("entry %d kind" % i, d["kind"] == e["kind"], d["kind"])
        t("entry %d leaf hash" % i, leaf_hash(raw).hex() == e["leaf_hash"])
        t("entry %d strict (truncated, extended, VRS1 rejected)" % i,
          _rejects(raw[:-1]) and _rejects(raw + b"\0") and _rejects(b"VRS1" + raw[4:]))
        if i >= len(V["log"]): continue
        if d["kind"] == "pool-open":
            for n in range(1, 100000): set_bit(bm, n, 1)
            t("fresh pool digest", pool_digest(bm).hex() == V["pool"]["fresh_digest"])
        elif d["kind"] == "pool-withhold":
            for n in d["numbers"]: set_bit(bm, n, 0)
    t("entries: one of each kind", sorted(d["kind"] for d in decoded) == sorted(k for k, _ in KINDS.values()))
    P = V["pool"]
    t("special patterns = withhold entry", decoded[1]["numbers"] == P["special_patterns"])
    t("pool digest after special patterns", pool_digest(bm).hex() == P["digest_after_special_patterns"])
    avail = available(bm)
    for x in P["nth_available_after_special_patterns"]:
        t("nth available k=%d" % x["k"], avail[x["k"]] == x["number"])
    leaves = [leaf_hash(r) for r in raws[:len(V["log"])]]
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
    # §6.4: the key-rotation of more_entries logged at index 4, after the four entries of log, and its handover
    KR, ri = V["key_rotation"], next(i for i, d in enumerate(decoded) if d["kind"] == "key-rotation")
    t("key rotation entry", KR["index"] == len(V["log"]) and (decoded[ri]["old_key"], decoded[ri]["new_key"]) == (KR["old_key"], KR["new_key"]))
    ks = {}
    for role in ("old", "new"):
        sc = bytes.fromhex(KR[role + "_key_seed"]); pk = ed25519_sign(sc, b"")[0]; name = KR[role + "_key"].split("+")[0]
        kid = H(name.encode() + b"\n\x01" + pk)[:4]; ks[role] = (sc, name, kid)
        t("key rotation: %s key from its seed" % role, parse_verifier_key(KR[role + "_key"]) == (name, kid, pk)
          and KR[role + "_key"] == "%s+%s+%s" % (name, kid.hex(), base64.b64encode(b"\x01" + pk).decode()))
    t("key rotation valid (§6.4): two well-formed keys that differ", KR["old_key"] != KR["new_key"])
    five, leaves5 = raws[:len(V["log"])] + [raws[ri]], leaves + [leaf_hash(raws[ri])]
    t("key rotation: root of 5", mth(leaves5).hex() == KR["root_of_5"])
    t("key rotation: inclusion of 4 in 5", verify_inclusion(leaves5[4], 4, 5, hx(KR["inclusion_of_4_in_5"]), bytes.fromhex(KR["root_of_5"]))
      and inclusion_path(leaves5, 4) == hx(KR["inclusion_of_4_in_5"]))
    hn, ho = KR["handover_note"], KR["handover_note"].split("\n")[0]
    t("key rotation: the handover opens with the old key and with the new key",
      all(open_checkpoint(hn, parse_verifier_key(KR[role + "_key"]), ho) == (5, bytes.fromhex(KR["root_of_5"])) for role in ("old", "new")))
    t("key rotation: the handover note re-signed (Ed25519 is deterministic)", sign_note(checkpoint_text(ho, five), ks["old"], ks["new"]) == hn)
    t("key rotation: a note by the old key alone does not open with the new one", _rejects(sign_note(checkpoint_text(ho, five), ks["old"]),
      lambda n: open_checkpoint(n, parse_verifier_key(KR["new_key"]), ho)))
    # the draw: log entry 2 commits (naming the pool state above), log entry 3 answers it
    Dv, C, D = V["draw"], decoded[2], decoded[3]
    t("draw commit = log[2]", Dv["commit_hex"] == V["log"][2]["hex"] and Dv["commit_index"] == 2 and Dv["pool_id"] == C["pool_id"])
    t("draw commit fields", (C["rules_version"], C["previous_commit"], C["available_count"], C["pool_digest"].hex(), C["round"])
      == (RULES, int(Dv["previous_commit"]), len(avail), Dv["pool_digest"], Dv["round"]) and C["previous_commit"] == NONE)
    t("draw pool", len(avail) == Dv["available_count"] and pool_digest(bm).hex() == Dv["pool_digest"])
    sig = bytes.fromhex(Dv["signature"])
    t("draw randomness", H(sig).hex() == Dv["randomness"])
    seed = draw_seed(leaf_hash(raws[2]), Dv["round"], H(sig))
    t("draw seed", seed.hex() == Dv["seed"])
    idx, num = next(candidates(seed, avail))
    t("draw index/number/plate", (1, idx, num, plate_text(Dv["pool_id"], num))
      == (Dv["attempts"], Dv["index"], Dv["number"], Dv["plate"]))
    t("draw result entry fields", (D["commit_index"], D["commit_hash"], D["pool_id"], D["beacon_id"], D["round"], D["signature"],
      D["randomness"], D["seed"], D["attempts"], D["index"], D["number"], D["plate"]) == (2, leaf_hash(raws[2]), C["pool_id"],
      C["beacon_id"], C["round"], sig, H(sig), seed, 1, idx, num, Dv["plate"]))
    W = V["draw_with_taken"]
    cs = candidates(bytes.fromhex(W["seed"]), avail)
    got = [next(cs) for _ in W["candidates"]]
    t("draw_with_taken candidates", got == [(x["index"], x["number"]) for x in W["candidates"]] and W["n"] == len(avail))
    att = next(j for j, (i, n) in enumerate(candidates(bytes.fromhex(W["seed"]), avail), 1) if n not in W["taken"])
    t("draw_with_taken attempts/index/number/plate", (att, got[att - 1], plate_text(Dv["pool_id"], got[att - 1][1]))
      == (W["attempts"], (W["index"], W["number"]), W["plate"]))
    Tm = V["timing"]
    t("timing publication", Tm["genesis_unix_ms"] + (Tm["round"] - 1) * Tm["period_ms"] == Tm["published_ms"])
    for at in Tm["commit_at_ms_valid"]:
        t("timing valid %d" % at, on_time(at, Tm["round"], Tm["genesis_unix_ms"], Tm["period_ms"]))
    for at in Tm["commit_at_ms_invalid"]:
        t("timing invalid %d" % at, not on_time(at, Tm["round"], Tm["genesis_unix_ms"], Tm["period_ms"]))
    t("draw commit on time (quicknet)", Tm["beacon_id"] == C["beacon_id"] == "drand-quicknet" and Tm["round"] == C["round"]
      and on_time(C["at_ms"], C["round"], 1692803367000, 3000))
    L = V["local_beacon_id"]
    t("local beacon id", "vrs-local-" + H(bytes.fromhex(L["public_key"]))[:4].hex() == L["beacon_id"])
    tr = lambda bid: json.dumps({"log_origin": "o", "log_key": "a+b97a8e93+ARpmctq4XSqY0JihG09zIzk1Wa3QXpEiyFy0+BjZz7c4", "beacons":
                                 [{"beacon_id": bid, "public_key": L["public_key"], "genesis_unix_ms": 0, "period_ms": 1}]}).encode()
    t("trust with the local beacon accepted", load_trust(tr(L["beacon_id"]))["beacons"].keys() == {L["beacon_id"]})
    t("trust with a mismatched local beacon id refused", _rejects(tr("vrs-local-2b3d2420"), load_trust)
      and _rejects(tr("vrs-local-2B3D241F"), load_trust) and _rejects(tr("vrs-local-"), load_trust))
    trust_self_test(t, tr(L["beacon_id"]).decode())
    # RFC 8032 §7.1 tests 1 and 2
    for pk, m, sg in (("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
                       "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
                      ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
                       "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")):
        pk, m, sg = bytes.fromhex(pk), bytes.fromhex(m), bytes.fromhex(sg)
        t("ed25519 RFC 8032 msg=%r" % m.hex(), ed25519_verify(pk, m, sg))
        t("ed25519 rejects tampering", not ed25519_verify(pk, m + b"x", sg)
          and not ed25519_verify(pk, m, sg[:-1] + bytes([sg[-1] ^ 1])))
    t("ed25519 signing = RFC 8032 test 1", ed25519_sign(bytes.fromhex(
      "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"), b"")[1].hex().startswith("e5564300c360ac72"))
    note_self_test(t)
    grammar_self_test(t)
    # RFC 9380 J.9.1 hash_to_curve G1 vectors
    from py_ecc.bls.hash_to_curve import hash_to_G1
    from py_ecc.optimized_bls12_381 import normalize
    for msg, x, y in RFC9380_G1:
        px, py = normalize(hash_to_G1(msg, b"QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_", hashlib.sha256))
        t("RFC 9380 J.9.1 msg=%r" % msg[:8], (px.n, py.n) == (int(x, 16), int(y, 16)))
    Q = json.load(open(os.path.join(here, "..", "beacons", "drand-quicknet.json"))); pk = bytes.fromhex(Q["public_key"])
    t("quicknet params", Q["scheme"] == SCHEME and Q["genesis_unix"] == 1692803367 and Q["period_seconds"] == 3
      and Q["beacon_id"] == "drand-quicknet" and Q["chain_hash"] == "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971")
    for r in Q["rounds"]:
        sg = bytes.fromhex(r["signature"])
        t("quicknet round %d" % r["round"], bls_verify(pk, r["round"], sg) and H(sg).hex() == r["randomness"])
    t("quicknet tampered round rejected", not bls_verify(pk, Q["rounds"][0]["round"] + 1, bytes.fromhex(Q["rounds"][0]["signature"])))
    t("draw signature is quicknet's round %d" % Dv["round"], bls_verify(pk, Dv["round"], sig))
    t("entries re-encode", all(encode_entry(r[4], **d) == r for r, d in zip(raws, decoded)))
    receipt_self_test(t, Q, next(r for r in Q["rounds"] if r["round"] == Dv["round"]))
    print("self-test: %d passed, %d failed" % (res["pass"], res["fail"]))
    return res["fail"] == 0

def _rejects(raw, f=decode_entry):
    try: f(raw)
    except (ValueError, Fail): return True
    return False

def trust_self_test(t, txt):
    """§7.2 on a trust file txt (JSON text) with one beacon, a local one with period 1."""
    ok = lambda x: not _rejects(x.encode(), load_trust)
    t("trust: other members ignored, whatever they hold", ok(txt[:-1] + ', "note": [1.5, -1, 1e3, NaN, "\\ud800", {"a": 1, "a": 2}], '
      '"note": 0}') and ok(txt.replace('"period_ms"', '"chain_hash": "x", "period_seconds": 0.5, "x": null, "x": 1, "period_ms"'))
      and ok(txt.replace('"period_ms": 1', '"period_ms": 9007199254740991')) and ok(txt.replace('"genesis_unix_ms": 0', '"genesis_unix_ms": 0 ')))
    b, k = txt[txt.index('{"beacon_id"'):txt.rindex("]")], json.loads(txt)["beacons"][0]["public_key"]
    for label, bad in (("beacon id twice", txt.replace(b, b + ", " + b)), ("period 0", txt.replace('"period_ms": 1', '"period_ms": 0')),
                       ("95-byte beacon key", txt.replace(k, k[:-2])), ("97-byte beacon key", txt.replace(k, k + "00")),
                       ("upper-case beacon key", txt.replace(k, k.upper())), ("0x beacon key", txt.replace(k, "0x" + k[2:])),
                       ("period -1", txt.replace('"period_ms": 1', '"period_ms": -1')), ("period 1.0", txt.replace('"period_ms": 1', '"period_ms": 1.0')),
                       ("period 2^53", txt.replace('"period_ms": 1', '"period_ms": 9007199254740992')), ("genesis \"0\"", txt.replace('"genesis_unix_ms": 0', '"genesis_unix_ms": "0"')),
                       ("period_ms repeated", txt.replace('"period_ms": 1', '"period_ms": 1, "period_ms": 1')),
                       ("log_key repeated", txt.replace('"log_key"', '"log_key": "x", "log_key"')), ("beacon not an object", txt.replace(b, "[]")),
                       ("beacons not a list", txt.replace("[" + b + "]", b)), ("log key id", txt.replace("+b97a8e93+", "+b97a8e94+")),
                       ("log key name with a no-break space", txt.replace('"a+', '"a\\u00a0+')), ("lone surrogate in beacon_id", txt.replace('"vrs-local-', '"\\ud800vrs-local-')),
                       ("missing log_key", txt.replace('"log_key"', '"log_key_"')), ("not an object", "[" + txt + "]")):
        t("trust refused: %s" % label, _rejects(bad.encode(), load_trust), bad)

def encode_entry(code, **f):  # §3; only the self-tests encode
    out = MAGIC + bytes([code])
    for item in KINDS[code][1].split():
        k, ty = item.split(":"); v = f[k]
        if ty in ("u32", "u64"): out += struct.pack(">I" if ty == "u32" else ">Q", v)
        elif ty == "hash": out += v
        elif ty == "numbers": out += struct.pack(">I%dI" % len(v), len(v), *v)
        else: v = v.encode() if ty == "str" else v; out += struct.pack(">H", len(v)) + v
    return out

def checkpoint_text(origin, log):  # §6.3's checkpoint body of the tree of log; only the self-tests sign
    return "%s\n%d\n%s\n" % (origin, len(log), base64.b64encode(mth([leaf_hash(e) for e in log])).decode())

def sign_note(text, *keys):  # a signed note (§6.3) with a line by each key (secret, name, key_id), in order
    return text + "\n" + "".join("\u2014 %s %s\n" % (n, base64.b64encode(k + ed25519_sign(sc, text.encode())[1]).decode()) for sc, n, k in keys)

def inclusion_path(leaves, m):  # RFC 6962 PATH(m, D[n]); only the self-tests prove
    if len(leaves) < 2: return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return inclusion_path(leaves[:k], m) + [mth(leaves[k:])] if m < k else inclusion_path(leaves[k:], m - k) + [mth(leaves[:k])]

def receipt_self_test(t, Q, R):
    """§7.3 end to end on a log of our own with quicknet's recorded round R and a pool of two numbers, where
    the sampler repeats itself: candidates 9, 9, 5 (check taken: a candidate shown taken cannot be drawn)."""
    secret, name, origin, pool, salt = H(b"receipt-test-0"), "log.example/r", "log.example/r/v2", "30-car-white-A", bytes(32)
    pk = ed25519_sign(secret, b"")[0]; kid = H(name.encode() + b"\n\x01" + pk)[:4]
    G, p, rnd, sig = Q["genesis_unix"] * 1000, Q["period_seconds"] * 1000, R["round"], bytes.fromhex(R["signature"])
    trust = load_trust(json.dumps({"log_origin": origin, "log_key": "%s+%s+%s" % (name, kid.hex(), base64.b64encode(b"\x01" + pk).decode()),
                                   "beacons": [{"beacon_id": Q["beacon_id"], "public_key": Q["public_key"], "genesis_unix_ms": G, "period_ms": p}]}).encode())
    bm = bytearray(16384); set_bit(bm, 5, 1); set_bit(bm, 9, 1)
    def commit(app, prev): return encode_entry(0x10, pool_id=pool, rules_version=RULES, application_commitment=app_commitment(salt, app),
        beacon_id=Q["beacon_id"], round=rnd, previous_commit=prev, available_count=2, pool_digest=pool_digest(bm), at_ms=G + (rnd - 3) * p)
    def result(ci, c, att, i, num): return encode_entry(0x11, commit_index=ci, commit_hash=leaf_hash(c), pool_id=pool, beacon_id=Q["beacon_id"],
        round=rnd, signature=sig, randomness=H(sig), seed=draw_seed(leaf_hash(c), rnd, H(sig)), attempts=att, index=i, number=num,
        plate=plate_text(pool, num), at_ms=0)
    for k in range(64):  # an application whose candidates are 9, 9, 5
        app = "applicant-%d" % k; c = commit(app, 0); cs = candidates(draw_seed(leaf_hash(c), rnd, H(sig)), [5, 9])
        if [next(cs)[1] for _ in range(3)] == [9, 9, 5]: break
    else: return t("receipt: an application with candidates 9, 9, 5", False)
    log = [commit("earlier", NONE), c, result(0, commit("earlier", NONE), 1, 1, 9), result(1, c, 3, 0, 5), result(1, c, 2, 1, 9)]
    k0 = (secret, name, kid); note = sign_note(checkpoint_text(origin, log), k0)
    b64 = lambda v: base64.b64encode(v).decode()
    def lg(i, lo=log): return {"index": i, "entry": b64(lo[i]), "proof": [b64(h) for h in inclusion_path([leaf_hash(e) for e in lo], i)]}
    def receipt(ri, taken, plate, cp=note, lo=log, rotations=None):
        r = {"version": RECEIPT_VERSION, "plate": plate, "application_id": app, "salt": salt.hex(), "checkpoint": cp, "commit": lg(1, lo),
             "result": lg(ri, lo), "previous": lg(2, lo), "taken": [lg(2, lo)] * taken, "pool_bitmap": b64(bm),
             "beacon": {"beacon_id": Q["beacon_id"], "scheme": SCHEME, "public_key": Q["public_key"], "genesis_unix_ms": G, "period_ms": p,
                        "round": rnd, "signature": sig.hex(), "randomness": H(sig).hex()}}
        if rotations is not None: r["rotations"] = rotations
        return json.dumps(r).encode()
    def verdict(raw, tr=trust):
        try: return verify_receipt(raw, tr)
        except Fail as x: return x.check
    t("receipt: candidates 9, 9, 5; both 9s shown taken by the same draw; 5 drawn", verdict(receipt(3, 2, "30A-000.05")) == "30A-000.05")
    t("receipt fails taken: candidate 2 = 9 drawn although shown taken", verdict(receipt(4, 1, "30A-000.09")) == "taken")
    t("receipt fails taken: one 9 shown, 5 drawn at attempts 3", verdict(receipt(3, 1, "30A-000.05")) == "taken")
    # §6.4, §7.3 check rotations: the same log, then k0 -> k1 at index 5 and k1 -> k2 at index 6 (the keys share a name)
    ks = [k0] + [(H(b"receipt-test-%d" % i), name) for i in (1, 2)]
    ks[1:] = [(sc, n, H(n.encode() + b"\n\x01" + ed25519_sign(sc, b"")[0])[:4]) for sc, n in ks[1:]]
    vk = lambda k: "%s+%s+%s" % (k[1], k[2].hex(), b64(b"\x01" + ed25519_sign(k[0], b"")[0]))
    tr = [load_trust(json.dumps({"log_origin": origin, "log_key": vk(k), "beacons": [{"beacon_id": Q["beacon_id"], "public_key": Q["public_key"],
          "genesis_unix_ms": G, "period_ms": p}]}).encode()) for k in ks]
    rot = lambda old, new: encode_entry(0x20, old_key=old, new_key=new, reason="scheduled rotation", at_ms=0)
    full = log + [rot(vk(ks[0]), vk(ks[1])), rot(vk(ks[1]), vk(ks[2]))]
    def handover(lo, *keys): return {"checkpoint": sign_note(checkpoint_text(origin, lo), *keys), "rotation": lg(len(lo) - 1, lo)}
    h1, h2 = handover(full[:6], ks[0], ks[1]), handover(full[:7], ks[1], ks[2])
    cp = sign_note(checkpoint_text(origin, full), ks[2])
    ok = lambda tri, rots, cp=cp, lo=full: verdict(receipt(3, 2, "30A-000.05", cp, lo, rots), tr[tri])
    t("rotations: pinned to the first key, both followed", ok(0, [h1, h2]) == "30A-000.05")
    t("rotations: pinned to the middle key, the first skipped", ok(1, [h1, h2]) == "30A-000.05")
    t("rotations: pinned to the last key, both skipped, or none given", ok(2, [h1, h2]) == ok(2, None) == ok(2, []) == "30A-000.05")
    t("rotations: a receipt before any rotation, rotations absent or []", ok(0, None, note, log) == ok(0, [], note, log) == "30A-000.05")
    t("rotations fail checkpoint: the first key without rotations, or with one", ok(0, None) == ok(0, [h1]) == ok(1, []) == "checkpoint")
    t("rotations fail checkpoint: out of order, the later one skipped and the earlier followed", ok(0, [h2, h1]) == "checkpoint")
    t("rotations fail checkpoint: a checkpoint older than the handover followed",
      ok(0, [h1], sign_note(checkpoint_text(origin, log), ks[1]), log) == "checkpoint"
      and ok(0, [h1], sign_note(checkpoint_text(origin, full[:6]), ks[1]), full[:6]) == "30A-000.05")
    t("rotations fail: after one followed, the chain must go on", ok(0, [h1, h1]) == ok(0, [h1, h2, h1]) == ok(0, [h1, h2, h2]) == "rotations")
    t("rotations fail: not a key-rotation, even skipped", ok(0, [{"checkpoint": note, "rotation": lg(1)}]) == ok(2, [h1, dict(h2, rotation=lg(1))]) == "rotations")
    t("rotations fail: the handover signed by one key only", ok(0, [handover(full[:6], ks[0]), h2]) == ok(0, [handover(full[:6], ks[1]), h2]) == "rotations")
    t("rotations fail: the handover of another origin", ok(0, [dict(h1, checkpoint=sign_note(checkpoint_text(origin + "x", full[:6]), ks[0], ks[1])), h2]) == "rotations")
    t("rotations fail: proof to the receipt's checkpoint, not the handover",
      ok(0, [{"checkpoint": sign_note(checkpoint_text(origin, full), ks[0], ks[1]), "rotation": lg(5, full)}, h2]) == "rotations")
    t("rotations fail: a wrong inclusion proof", ok(0, [dict(h1, rotation=dict(lg(5, full[:6]), proof=[])), h2]) == "rotations")
    t("rotations fail: a handover not above the previous one", ok(0, [h1, handover(log + [rot(vk(ks[1]), vk(ks[2]))], ks[1], ks[2])]) == "rotations")
    t("rotations fail: new_key = old_key, or malformed", ok(0, [handover(log + [rot(vk(ks[0]), vk(ks[0]))], ks[0])]) == "rotations"
      and ok(0, [handover(log + [rot(vk(ks[0]), vk(ks[1]) + " ")], ks[0], ks[1])]) == "rotations"
      and ok(0, [handover(log + [rot(vk(ks[0]), vk(ks[1]).replace(name, name.upper()))], ks[0], ks[1])]) == "rotations")
    t("rotations: old_key compared as text; before one is followed, another is skipped unchecked",
      ok(0, [handover(log + [rot(vk(ks[0]) + " ", vk(ks[1]))], ks[1]), h1, h2]) == "30A-000.05"
      and ok(0, [handover(log + [rot(vk(ks[0]) + " ", vk(ks[1]))], ks[0], ks[1]), h2]) == "checkpoint")

def note_self_test(t):
    """§6.3, with a key of our own (its base64 contains "+")."""
    secret, name, origin = H(b"note-test-0"), "log.example/test", "log.example/test/v2"
    pk = ed25519_sign(secret, b"")[0]
    kid = H(name.encode() + b"\n\x01" + pk)[:4]
    vkey = "%s+%s+%s" % (name, kid.hex(), base64.b64encode(b"\x01" + pk).decode())
    key = parse_verifier_key(vkey)
    t("verifier key with + in its base64", "+" in vkey.split("+", 2)[2] and key == (name, kid, pk))
    for bad in (vkey.replace(kid.hex(), kid.hex().upper()), vkey.replace(kid.hex(), "%08x" % (int(kid.hex(), 16) ^ 1)),
                vkey.replace(name, "log example"), vkey.replace(name, "log\u00a0example"), vkey.replace(name, ""),
                "%s+%s+%s" % (name, kid.hex(), base64.b64encode(b"\x02" + pk).decode()), vkey + "=", vkey[:-1],
                *(vkey.replace(name, "log%sexample" % c) for c in "\x85\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000")):
        t("verifier key refused: %r" % bad[:40], _rejects(bad, parse_verifier_key))
    for c in "\u200b\u180e\ufeff":  # not White_Space
        n = "log%sexample" % c; k = H(n.encode() + b"\n\x01" + pk)[:4]
        t("verifier key name with U+%04X" % ord(c), parse_verifier_key("%s+%s+%s" % (n, k.hex(), vkey.split("+", 2)[2])) == (n, k, pk))
    root = H(b"root")
    def text(size=7, o=origin, r=base64.b64encode(root).decode(), extra=""): return "%s\n%s\n%s\n%s" % (o, size, r, extra)
    def line(body, n=name, k=kid, sig=None, cut=64):
        return "\u2014 %s %s\n" % (n, base64.b64encode(k + (sig if sig is not None else ed25519_sign(secret, body.encode())[1])[:cut]).decode())
    good, tx = line(text()), text()
    foreign = ["\u2014 witness%d.example %s\n" % (i, base64.b64encode(H(b"%d" % i) * 2 + b"\0\0\0\0").decode()) for i in range(16)]
    ok = lambda note: open_checkpoint(note, key, origin) == (7, root)
    rej = lambda note: _rejects(note, lambda n: open_checkpoint(n, key, origin))
    t("note: one pinned signature", ok(tx + "\n" + good))
    t("note: foreign, name-only and id-only lines are ignored", ok(tx + "\n" + foreign[0] + line(tx, k=b"\0\0\0\0", sig=bytes(64))
      + good + line(tx, n="other.example", sig=bytes(64)) + line(tx, n=name + "x", sig=b"\0")))
    t("note: 16 signature lines", ok(tx + "\n" + "".join(foreign[:15]) + good))
    t("note: key names with U+200B, U+180E, U+FEFF (not White_Space) are names", ok(tx + "\n" + "".join(
      line(tx, n="w%sx" % c, sig=bytes(64)) for c in "\u200b\u180e\ufeff") + good))
    t("note: 17 signature lines rejected", rej(tx + "\n" + "".join(foreign) + good))
    t("note: a failing pinned signature rejects the note", rej(tx + "\n" + good + line(tx, sig=bytes(64)))
      and rej(tx + "\n" + line(tx, sig=bytes(64)) + good) and rej(tx + "\n" + good + line(tx, cut=63)))
    t("note: no pinned signature rejected", rej(tx + "\n" + foreign[0]) and rej(tx + "\n"))
    t("note: 2^64-1 tree size", open_checkpoint(text(NONE) + "\n" + line(text(NONE)), key, origin) == (NONE, root))
    for label, body in (("extension line", text(extra="ext\n")), ("leading zero", text("07")), ("size 2^64", text(2**64)),
                        ("signed size", text("+7")), ("31-byte root", text(r=base64.b64encode(root[:31]).decode())),
                        ("root padding bits", text(r=base64.b64encode(root).decode()[:-2] + "B=")), ("other origin", text(o="x")),
                        ("empty origin", text(o="")), ("CR", text(o=origin + "\r")), ("tab", text(o=origin + "\t"))):
        t("note rejected: %s" % label, rej(body + "\n" + line(body)))
    t("note rejected: lone surrogate", rej(text(o=origin + "\ud800") + "\n" + good))
    for label, sl in (("hyphen", good.replace("\u2014", "-")), ("two spaces", good.replace(" ", "  ", 1)),
                      ("+ in name", line(tx, n=name + "+x")), ("padding bits", foreign[0][:-3] + "B=\n"),
                      ("4 bytes", "\u2014 w %s\n" % base64.b64encode(b"abcd").decode()), ("name only", "\u2014 %s\n" % name),
                      ("trailing space", good[:-1] + " \n"), ("no final newline", good[:-1]),
                      *(("U+%04X in name" % ord(c), line(tx, n="w%sx" % c)) for c in "\x85\xa0\u1680\u2000\u2007\u200a\u2028\u2029\u202f\u205f\u3000")):
        t("note rejected: signature line %s" % label, rej(tx + "\n" + foreign[1] + sl + good))  # step 3, not 5
    t("note: the last blank line splits", rej(tx + "\n" + good + "\n" + foreign[0]))

def grammar_self_test(t):
    """§7.1 on a synthetic receipt: the grammar only, no log behind it."""
    b = lambda n: base64.b64encode(bytes(n)).decode()
    lg = {"index": 1, "entry": b(5), "proof": [b(32)]}
    base = {"version": RECEIPT_VERSION, "plate": "30A-000.01", "application_id": "a", "salt": "ab" * 32, "checkpoint": "c",
            "commit": lg, "result": lg, "previous": None, "taken": [lg], "pool_bitmap": b(16384),
            "beacon": {"beacon_id": "b", "scheme": SCHEME, "public_key": "00", "genesis_unix_ms": 1, "period_ms": 2,
                       "round": 3, "signature": "", "randomness": "cd" * 32}}
    txt = json.dumps(base)
    def edit(**kw):
        r = json.loads(txt)
        for k, v in kw.items():
            o = r
            for p in k.split("__")[:-1]: o = o[int(p) if p.isdigit() else p]
            if v is KeyError: del o[k.split("__")[-1]]
            else: o[k.split("__")[-1]] = v
        return json.dumps(r).encode()
    good = lambda raw: not _rejects(raw, parse_receipt)
    t("grammar: the synthetic receipt conforms", parse_receipt(txt.encode())["taken"][0]["proof"] == [bytes(32)])
    t("grammar: white space, escapes, previous, 2^53-1", good(json.dumps(base, indent=2).replace('"30A', '"\\u0033\\u00300A').encode())
      and good(edit(previous=lg)) and good(edit(taken=[])) and good(txt.replace('"index": 1', '"index": 9007199254740991').encode())
      and parse_receipt(txt.replace('"a"', '"\\u0061"').encode())["application_id"] == "a")
    t("grammar: the stated lengths (64 proof hashes of 32 bytes, 16384 bitmap bytes, 64 hex digits)", good(edit(result__proof=[b(32)] * 64)))
    rt = {"checkpoint": "c", "rotation": lg}
    rot = lambda *r, **kw: json.dumps(dict(base, rotations=list(r), **kw)).encode()
    t("grammar: rotations absent reads as [], present [] or with rotations", parse_receipt(txt.encode())["rotations"] == []
      and parse_receipt(rot())["rotations"] == [] and parse_receipt(rot(rt, rt))["rotations"][1]["rotation"]["entry"] == bytes(5)
      and good(rot(dict(rt, rotation=dict(lg, proof=[b(32)] * 64)))) and good(json.dumps(dict(base, rotations=[rt]), indent=1).encode()))
    t("grammar: a surrogate pair escape is Unicode text", parse_receipt(txt.replace('"a"', '"\\ud83d\\ude00"').encode())["application_id"] == "\U0001f600")
    bad = {"duplicate member": txt.replace('"plate"', '"plate": "x", "plate"'),
           "duplicate nested member": txt.replace('"round": 3', '"round": 3, "round": 3'),
           "duplicate member in taken": txt[:txt.rindex('"proof"')] + '"index": 1, ' + txt[txt.rindex('"proof"'):],
           "unknown member": edit(note="x"), "unknown nested member": edit(beacon__x=1), "missing member": edit(salt=KeyError),
           "missing nested member": edit(commit__proof=KeyError), "beacon member missing": edit(beacon__scheme=KeyError),
           "1.0": txt.replace('"index": 1', '"index": 1.0'), "1e3": txt.replace('"index": 1', '"index": 1e3'),
           "-0": txt.replace('"round": 3', '"round": -0'), "-1": txt.replace('"round": 3', '"round": -1'),
           "01": txt.replace('"round": 3', '"round": 03'), "NaN": txt.replace('"round": 3', '"round": NaN'),
           "Infinity": txt.replace('"round": 3', '"round": Infinity'), "2^53": edit(beacon__round=2**53),
           "true as integer": edit(beacon__round=True), "string as integer": edit(beacon__round="3"),
           "upper-case hex": edit(salt="AB" * 32), "odd-length hex": edit(beacon__public_key="0"), "63-digit salt": edit(salt="a" * 63),
           "0x hex": edit(beacon__public_key="0x00"), "base64 line break": edit(pool_bitmap=b(16384)[:76] + "\n" + b(16384)[76:]),
           "base64 space": edit(commit__entry=b(5)[:4] + " " + b(5)[4:]), "base64 missing padding": edit(commit__entry=b(5).rstrip("=")),
           "base64 padding bits": edit(commit__entry=b(5)[:-2] + "B="), "base64url": edit(commit__entry="-_-_-_-_"),
           "4-byte entry": edit(commit__entry=b(4)), "31-byte proof hash": edit(result__proof=[b(31)]),
           "65 proof hashes": edit(result__proof=[b(32)] * 65), "short bitmap": edit(pool_bitmap=b(16383)),
           "previous []": edit(previous=[]), "previous false": edit(previous=False), "taken object": edit(taken=lg),
           "taken null": edit(taken=None), "beacon array": edit(beacon=[]), "version v1": edit(version="vrs-receipt-v1"),
           "empty application_id": edit(application_id=""), "plate null": edit(plate=None), "checkpoint number": edit(checkpoint=1),
           "not an object": "[" + txt + "]", "two texts": txt + txt, "trailing comma": txt[:-1] + ",}",
           "BOM": b"\xef\xbb\xbf" + txt.encode(), "UTF-16": txt.encode("utf-16"), "invalid UTF-8": txt.replace('"a"', '"\xff"').encode("latin-1"),
           "lone surrogate escape": txt.replace('"a"', '"\\ud800"'), "control character in string": txt.replace('"a"', '"\x01"'),
           "lone low surrogate": txt.replace('"a"', '"\\udc00"'), "reversed surrogate pair": txt.replace('"a"', '"\\ude00\\ud83d"'),
           "lone surrogate in checkpoint": txt.replace('"c"', '"c\\ud800"'), "lone surrogate in a member name": txt.replace('"plate"', '"pl\\ud800ate"'),
           "33-byte proof hash": edit(commit__proof=[b(33)]), "65 taken proof hashes": edit(taken=[dict(lg, proof=[b(32)] * 65)]),
           "16385-byte bitmap": edit(pool_bitmap=b(16385)), "empty bitmap": edit(pool_bitmap=""), "65-digit salt": edit(salt="a" * 65),
           "66-digit salt": edit(salt="ab" * 33), "62-digit randomness": edit(beacon__randomness="cd" * 31),
           "66-digit randomness": edit(beacon__randomness="cd" * 33),
           "rotations null": edit(rotations=None), "rotations object": edit(rotations=rt), "rotations string": edit(rotations=""),
           "rotation null": rot(None), "rotation a bare logged": rot(lg), "rotation array": rot([rt]),
           "rotation missing checkpoint": rot({"rotation": lg}), "rotation missing rotation": rot({"checkpoint": "c"}),
           "rotation unknown member": rot(dict(rt, index=1)), "rotation checkpoint number": rot(dict(rt, checkpoint=1)),
           "rotation checkpoint null": rot(dict(rt, checkpoint=None)), "rotation entry null": rot(dict(rt, rotation=None)),
           "rotation entry missing proof": rot(dict(rt, rotation={"index": 1, "entry": b(5)})),
           "rotation entry unknown member": rot(dict(rt, rotation=dict(lg, checkpoint="c"))),
           "rotation 4-byte entry": rot(dict(rt, rotation=dict(lg, entry=b(4)))), "rotation 65 proof hashes": rot(dict(rt, rotation=dict(lg, proof=[b(32)] * 65))),
           "rotation 31-byte proof hash": rot(dict(rt, rotation=dict(lg, proof=[b(31)]))),
           "rotation entry padding bits": rot(dict(rt, rotation=dict(lg, entry=b(5)[:-2] + "B="))),
           "rotation index -7": rot(dict(rt, rotation=dict(lg, index=7))).decode().replace('"index": 7', '"index": -7'),
           "rotation index 7.0": rot(dict(rt, rotation=dict(lg, index=7))).decode().replace('"index": 7', '"index": 7.0'),
           "rotation index 2^53": rot(dict(rt, rotation=dict(lg, index=2**53))), "rotation index string": rot(dict(rt, rotation=dict(lg, index="1"))),
           "rotation lone surrogate in checkpoint": rot(dict(rt, checkpoint="r")).decode().replace('"r"', '"r\\ud800"'),
           "rotations twice": rot(rt).decode()[:-1] + ', "rotations": []}',
           "duplicate member in a rotation": rot(dict(rt, checkpoint="r")).decode().replace('"checkpoint": "r"', '"checkpoint": "r", "checkpoint": "r"')}
    for label, raw in bad.items():
        t("grammar rejects: %s" % label, _rejects(raw if type(raw) is bytes else raw.encode(), parse_receipt))

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
def read_trust(path):
    try:
        with open(path, "rb") as f: return load_trust(f.read())
    except (OSError, ValueError, RecursionError) as x:
        print("TRUST REFUSED %s: %s" % (path, x)); return None

PY_ECC = "py_ecc==8.0.0"
NO_PY_ECC = 3  # exit status: py_ecc is missing, so no receipt was judged

def have_py_ecc():
    """The BLS12-381 pairings of the beacon check (§9) come from py_ecc: without it
    no receipt can be judged, so the verifier says so rather than failing receipts."""
    try:
        import py_ecc.optimized_bls12_381, py_ecc.optimized_bls12_381.optimized_pairing  # noqa: F401
        import py_ecc.bls.point_compression, py_ecc.bls.hash_to_curve  # noqa: F401
    except ImportError as x:
        print("ERROR py_ecc is not installed: pip install %s (%s)" % (PY_ECC, x), file=sys.stderr)
        return False
    return True

def main(argv):
    modes = (argv[:1] == ["--self-test"] or len(argv) == 2 and argv[0] == "--cases"
             or len(argv) >= 3 and argv[0] == "--trust")
    if modes and not have_py_ecc():
        return NO_PY_ECC
    if argv[:1] == ["--self-test"]:
        return 0 if self_test() else 1
    if len(argv) == 2 and argv[0] == "--cases":
        d = argv[1]
        trust = read_trust(os.path.join(d, "trust.json"))
        if trust is None: return 2
        cases, bad = json.load(open(os.path.join(d, "cases.json"))), []
        for c in cases:
            err, plate = run_file(os.path.join(d, c["file"]), trust)
            agree = err is None if c["valid"] else err is not None and err.check == c.get("check")
            if not agree: bad.append(c["file"])
            print("%s %s: %s%s" % ("agree" if agree else "DISAGREE", c["file"],
                  "OK %s" % plate if err is None else "FAIL %s: %s" % (err.check, err),
                  "" if c["valid"] else " [expected %s]" % c.get("check")))
        print("cases %s: %d agree, %d disagree%s" % (d, len(cases) - len(bad), len(bad), (": " + " ".join(bad)) if bad else ""))
        return 1 if bad else 0
    if len(argv) >= 3 and argv[0] == "--trust":
        trust, good = read_trust(argv[1]), True
        if trust is None: return 2
        for path in argv[2:]:
            err, plate = run_file(path, trust)
            print("OK %s %s" % (plate, path) if err is None else "FAIL %s %s: %s" % (err.check, path, err))
            good &= err is None
        return 0 if good else 1
    print(__doc__, file=sys.stderr)
    return 2

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
