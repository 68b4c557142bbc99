#!/usr/bin/env python3
"""Regenerates the demo data set: partners.ndjson and events.ndjson.

The data feeds examples/programs/partners.yaml (program acme-partners) and
is committed, so the demo and the tests never need Python; this script only
exists to rebuild it reproducibly (fixed seed, no clock reads).

What the data is built to show, evaluated at 2026-11-15T00:00:00Z (the demo's
fake clock), with every event between 2025-11-16 and 2026-11-14:
- every tier of every ladder is held by some partners, and some partners on
  every ladder stay unranked;
- a few partners sit just below the next tier (explain shows a small gap);
- a few partners did all their recent activity early in the year, so their
  365-day metrics are about to expire and explain shows them at risk;
- partners running two motions sit on two ladders.

The script checks those promises itself with a small evaluator of the
program's criteria and prints the expected tier distribution on stderr;
it fails instead of writing data that would not show them.

Usage: python3 examples/data/generate.py [OUTPUT_DIR]   (default: this dir)
"""

import datetime as dt
import json
import os
import random
import sys

SEED = 20261115
PARTNER_COUNT = 300
NOW = dt.datetime(2026, 11, 15, tzinfo=dt.timezone.utc)
FIRST_DAY = dt.datetime(2025, 11, 16, tzinfo=dt.timezone.utc)
LAST_DAY = dt.datetime(2026, 11, 14, tzinfo=dt.timezone.utc)
# "Old" activity happens in the first weeks of the year-long span, so it
# leaves the 365-day windows within a few weeks of NOW.
OLD_UNTIL = dt.datetime(2026, 1, 20, tzinfo=dt.timezone.utc)
CUSTOMER_POOL = 4000

TYPE_MIX = [  # (types, share of partners)
    (["reseller"], 0.42),
    (["services"], 0.22),
    (["technology"], 0.17),
    (["reseller", "services"], 0.10),
    (["services", "technology"], 0.05),
    (["reseller", "technology"], 0.04),
]
# Share of each ladder's partners aimed at: unranked, then tier 1..4.
LEVEL_MIX = [0.12, 0.30, 0.27, 0.20, 0.11]
NEAR_SHARE = 0.12  # just below the next tier
OLD_SHARE = 0.08   # activity about to expire

LADDER_TIERS = {
    "reseller": ["Registered", "Selling", "Specialist", "Strategic"],
    "services": ["Trained", "Delivering", "Certified Practice", "Lead Implementer"],
    "technology": ["Listed", "Validated", "Co-Sell", "Joint-Solution"],
}

NAME_HEAD = ["North", "Blue", "Silver", "Iron", "Bright", "Cedar", "Granite", "Harbor",
             "Summit", "Maple", "Falcon", "Quartz", "Orbit", "Vertex", "Lumen", "Pioneer",
             "Cobalt", "Juniper", "Atlas", "Meridian", "Tidal", "Aspen", "Beacon", "Crescent"]
NAME_TAIL = ["wind", "peak", "stone", "field", "bridge", "gate", "line", "point", "works",
             "wave", "forge", "path", "crest", "haven", "light", "ridge"]
NAME_KIND = {
    "reseller": ["Systems", "Solutions", "Technologies", "Distribution", "IT"],
    "services": ["Consulting", "Partners", "Advisory", "Integration", "Services"],
    "technology": ["Software", "Labs", "Data", "Cloud", "Analytics"],
}
NAME_FORM = ["Ltd", "GmbH", "Inc.", "BV", "SAS", "AB", "LLC", "Pty Ltd"]

SALES_CERTS = ["sales-foundations", "sales-professional", "solution-architect",
               "vertical-healthcare", "vertical-finance", "vertical-public-sector",
               "technical-admin"]
SPECIALISATIONS = ["healthcare", "financial-services", "retail", "public-sector",
                   "manufacturing"]


class Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.events = []
        self.counter = 0

    def when(self, old=False, start=FIRST_DAY):
        end = OLD_UNTIL if old else LAST_DAY
        span = int((end - start).total_seconds()) + 86399
        t = start + dt.timedelta(seconds=self.rng.randrange(span))
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    def emit(self, prefix, source, partner, metric, at, value=None, key=None, ident=None):
        self.counter += 1
        ev = {"id": ident or "%s-%06d" % (prefix, self.counter), "source": source,
              "partner": partner, "metric": metric}
        if value is not None:
            ev["value"] = value
        ev["at"] = at
        if key is not None:
            ev["key"] = key
        self.events.append(ev)

    # ---- reseller ----
    def reseller(self, pid, level, near, old):
        r = self.rng
        if level < 0:
            # Unranked: a signed contract without any sales certification,
            # or interest without a contract.
            if r.random() < 0.6:
                self.emit("ctr", "crm", pid, "contract_signed", self.when())
            self.deals(pid, r.randrange(0, 40000), old)
            self.sellers(pid, r.randint(0, 2))
            return
        certs = {0: 1, 1: 1, 2: r.randint(2, 3), 3: r.randint(3, 5)}[level]
        sellers = {0: r.randint(1, 2), 1: r.randint(3, 6), 2: r.randint(3, 8),
                   3: r.randint(8, 15)}[level]
        arr = {0: r.randrange(0, 45000), 1: r.randrange(55000, 230000),
               2: r.randrange(260000, 900000), 3: r.randrange(1050000, 2400000)}[level]
        if near:
            arr = {0: 46000, 1: 238000, 2: 955000, 3: arr}[level]
            if level == 0:
                sellers = 3
            if level == 1:
                certs = 2
            if level == 2:
                certs, sellers = 3, 9
        self.emit("ctr", "crm", pid, "contract_signed", self.when())
        for key in r.sample(SALES_CERTS, certs):
            for _ in range(r.randint(1, 3)):  # several people take the same exam
                self.emit("cert", "lms", pid, "certification", self.when(), key="cert-" + key)
        self.sellers(pid, sellers)
        self.deals(pid, arr, old)
        if level >= 2:
            requested = 0
            for _ in range(r.randint(1, 3)):
                amount = r.randrange(5000, 40000, 500)
                requested += amount
                self.emit("mdf", "mdf", pid, "mdf_requested", self.when(), value=amount)
            self.emit("mdf", "mdf", pid, "mdf_claimed", self.when(),
                      value=int(requested * r.uniform(0.4, 1.0)) // 100 * 100)

    def sellers(self, pid, latest):
        # Head-count updates over the year; the newest one is what counts.
        times = sorted({self.when() for _ in range(self.rng.randint(1, 3))})
        for i, at in enumerate(times):
            value = latest if i == len(times) - 1 else max(0, latest + self.rng.randint(-2, 2))
            self.emit("sellers", "crm", pid, "active_sellers", at, value=value)

    def deals(self, pid, arr, old):
        if arr <= 0:
            return
        n = max(1, arr // self.rng.randrange(25000, 90000))
        cuts = sorted(self.rng.randrange(1, arr) for _ in range(n - 1)) if arr > n else []
        parts = [b - a for a, b in zip([0] + cuts, cuts + [arr]) if b > a]
        for amount in parts:
            self.counter += 1
            opp = "opp-%06d" % self.counter
            self.emit(None, "crm", pid, "deal_closed", self.when(old), value=amount, key=opp,
                      ident=opp)

    # ---- services ----
    def services(self, pid, level, near, old):
        r = self.rng
        if level < 0:
            trained = r.randint(0, 1)
            impl = r.randint(0, 12)  # delivery without trained staff stays unranked
            csat, spec, refs = 0.85, r.randint(0, 1), 0
        else:
            trained = {0: r.randint(2, 4), 1: r.randint(2, 6), 2: r.randint(4, 9),
                       3: r.randint(6, 14)}[level]
            impl = {0: r.randint(0, 2), 1: r.randint(3, 8), 2: r.randint(10, 22),
                    3: r.randint(25, 38)}[level]
            csat = r.uniform(0.84, 0.95)
            spec = {0: 0, 1: 0, 2: r.randint(1, 2), 3: r.randint(1, 3)}[level]
            refs = {0: 0, 1: 0, 2: 0, 3: r.randint(1, 3)}[level]
            if level == 0 and r.random() < 0.4:
                impl, csat = r.randint(4, 8), r.uniform(0.62, 0.74)  # busy, unhappy customers
            if near:
                if level == 0:
                    impl, csat = 2, 0.88
                elif level == 1:
                    impl, spec = 9, 1
                elif level == 2:
                    impl, refs = 27, 0
        persons = ["consultant-%s-%02d" % (pid, i) for i in range(1, trained + 1)]
        for person in persons:
            self.emit("lms", "lms", pid, "consultant_trained", self.when(), key=person)
        for key in r.sample(SPECIALISATIONS, spec):
            self.emit("lms", "lms", pid, "specialisation", self.when(), key=key)
        customers = r.sample(range(1, CUSTOMER_POOL + 1), impl)
        scores = self.csat_scores(impl, csat)
        for cust, score in zip(customers, scores):
            at = self.when(old)
            self.emit("impl", "crm", pid, "implementation_completed", at, key="cust-%05d" % cust)
            self.emit("csat", "crm", pid, "csat", at, value=score)
        for cust in customers[:refs]:
            self.emit("ref", "crm", pid, "reference_customer", self.when(old),
                      key="cust-%05d" % cust)

    def csat_scores(self, n, mean):
        # Scores scattered around the intended mean, kept in 0..1 and two
        # decimals; the mean is steered so the tier aimed at really holds.
        while True:
            scores = [round(min(1.0, max(0.0, self.rng.gauss(mean, 0.05))), 2) for _ in range(n)]
            if not scores:
                return scores
            avg = sum(scores) / n
            if (mean >= 0.8) == (avg >= 0.81) and (mean >= 0.8 or avg <= 0.79):
                return scores

    # ---- technology ----
    def technology(self, pid, level, near, old):
        r = self.rng
        if level < 0:
            mutual = r.randint(0, 6)  # pilots, but nothing shipped yet
            shipped = am = cosell = joint = False
        else:
            shipped = True
            mutual = {0: r.randint(0, 8), 1: r.randint(10, 35), 2: r.randint(12, 70),
                      3: r.randint(25, 120)}[level]
            am = level >= 2
            cosell = level >= 2
            joint = level >= 3
            if near:
                if level == 0:
                    mutual = 9
                elif level == 1:
                    am = True  # alliance manager named, co-sell not yet signed
        if shipped:
            self.emit("intg", "crm", pid, "integration_shipped", self.when())
        for cust in r.sample(range(1, CUSTOMER_POOL + 1), mutual):
            key = "cust-%05d" % cust
            for _ in range(r.choice([1, 1, 1, 2])):  # re-confirmed in a later sync
                self.emit("mc", "crm", pid, "mutual_customer", self.when(old), key=key)
        for flag, prefix, metric in ((am, "am", "alliance_manager"),
                                     (cosell, "cosell", "cosell_signed"),
                                     (joint, "offer", "joint_offer")):
            if flag:
                self.emit(prefix, "crm", pid, metric, self.when())


def pick(rng, mix):
    x, acc = rng.random(), 0.0
    for i, share in enumerate(mix):
        acc += share
        if x < acc:
            return i
    return len(mix) - 1


def partner_name(rng, types, used):
    while True:
        name = "%s%s %s %s" % (rng.choice(NAME_HEAD), rng.choice(NAME_TAIL),
                               rng.choice(NAME_KIND[types[0]]), rng.choice(NAME_FORM))
        if name not in used:
            used.add(name)
            return name


# ---- the self-check: the program's criteria, evaluated at NOW ----

def parse_at(s):
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


def in_window(at, days):
    return days is None or at > NOW - dt.timedelta(days=days)


def metrics_of(events):
    def evs(metric, days=None):
        return [e for e in events if e["metric"] == metric and in_window(parse_at(e["at"]), days)]

    def latest(metric):
        got = evs(metric)
        return max(got, key=lambda e: e["at"]).get("value", 1) if got else None

    def distinct(metric, days=None):
        return len({e["key"] for e in evs(metric, days)})

    csat = [e["value"] for e in evs("csat", 365)]
    m = {
        "arr": sum(e["value"] for e in evs("deal_closed", 365)),
        "active_sellers": latest("active_sellers"),
        "sales_certs": distinct("certification", 730),
        "contract_signed": latest("contract_signed"),
        "trained_consultants": distinct("consultant_trained", 730),
        "implementations": distinct("implementation_completed", 365),
        "csat": sum(csat) / len(csat) if csat else None,
        "specialisations": distinct("specialisation"),
        "reference_customers": distinct("reference_customer", 365),
        "integration_shipped": latest("integration_shipped"),
        "mutual_customers": distinct("mutual_customer", 365),
        "alliance_manager": latest("alliance_manager"),
        "cosell_signed": latest("cosell_signed"),
        "joint_offer": latest("joint_offer"),
    }
    m["fit"] = (50 * min((m["arr"]) / 1e6, 1) + 30 * min((m["active_sellers"] or 0) / 10, 1) +
                20 * min(m["sales_certs"] / 4, 1))
    return m


def ge(value, threshold):
    return value is not None and value >= threshold


def qualifying(ladder, m):
    if ladder == "reseller":
        gate = ge(m["active_sellers"], 1)
        tiers = [ge(m["contract_signed"], 1) and m["sales_certs"] >= 1,
                 m["arr"] >= 50e3 and ge(m["active_sellers"], 3),
                 m["arr"] >= 250e3 and ge(m["active_sellers"], 3) and m["sales_certs"] >= 2,
                 m["arr"] >= 1e6 and m["sales_certs"] >= 3 and m["fit"] >= 80]
    elif ladder == "services":
        gate = m["trained_consultants"] >= 2
        happy = ge(m["csat"], 0.8)
        tiers = [m["trained_consultants"] >= 2,
                 m["implementations"] >= 3 and happy,
                 m["implementations"] >= 10 and happy and m["specialisations"] >= 1,
                 m["implementations"] >= 25 and happy and m["specialisations"] >= 1
                 and m["reference_customers"] >= 1]
    else:
        gate = ge(m["integration_shipped"], 1)
        co = ge(m["alliance_manager"], 1) and ge(m["cosell_signed"], 1)
        tiers = [ge(m["integration_shipped"], 1),
                 m["mutual_customers"] >= 10,
                 m["mutual_customers"] >= 10 and co,
                 m["mutual_customers"] >= 10 and co and ge(m["joint_offer"], 1)]
    best = None
    for i, holds in enumerate(tiers):
        if holds and (i == 0 or gate):
            best = i
    return best


def check(partners, events, aims):
    by_partner = {}
    for e in events:
        by_partner.setdefault(e["partner"], []).append(e)
    dist = {ladder: {} for ladder in LADDER_TIERS}
    problems = []
    for p in partners:
        m = metrics_of(by_partner.get(p["partner"], []))
        for ladder in p["types"]:
            got = qualifying(ladder, m)
            name = "unranked" if got is None else LADDER_TIERS[ladder][got]
            dist[ladder][name] = dist[ladder].get(name, 0) + 1
            aim = aims[(p["partner"], ladder)]
            if (got if got is not None else -1) != aim:
                problems.append("%s on %s: aimed at %d, qualifies for %s"
                                % (p["partner"], ladder, aim, name))
    for ladder, tiers in LADDER_TIERS.items():
        for name in tiers + ["unranked"]:
            if dist[ladder].get(name, 0) == 0:
                problems.append("nobody is %s on %s" % (name, ladder))
    return dist, problems


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    g = Gen(SEED)
    rng = g.rng
    partners, aims, used = [], {}, set()
    flags = {"near": [], "old": []}
    for n in range(1, PARTNER_COUNT + 1):
        pid = "p-%04d" % n
        types = list(TYPE_MIX[pick(rng, [s for _, s in TYPE_MIX])][0])
        partners.append({"partner": pid, "name": partner_name(rng, types, used), "types": types})
        for ladder in types:
            level = pick(rng, LEVEL_MIX) - 1
            near = 0 <= level <= 2 and rng.random() < NEAR_SHARE
            old = level >= 1 and not near and rng.random() < OLD_SHARE
            aims[(pid, ladder)] = level
            if near:
                flags["near"].append("%s/%s" % (pid, ladder))
            if old:
                flags["old"].append("%s/%s" % (pid, ladder))
            getattr(g, ladder)(pid, level, near, old)

    events = sorted(g.events, key=lambda e: (e["at"], e["source"], e["id"]))
    ids = {(e["source"], e["id"]) for e in events}
    if len(ids) != len(events):
        sys.exit("generate.py: duplicate event ids")
    dist, problems = check(partners, events, aims)
    if problems:
        sys.exit("generate.py: the data would not show what it promises:\n  "
                 + "\n  ".join(problems))

    with open(os.path.join(out_dir, "partners.ndjson"), "w") as f:
        for p in partners:
            f.write(json.dumps(p, separators=(",", ":")) + "\n")
    with open(os.path.join(out_dir, "events.ndjson"), "w") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")

    print("%d partners, %d events" % (len(partners), len(events)), file=sys.stderr)
    print("expected tiers at %s:" % NOW.strftime("%Y-%m-%dT%H:%M:%SZ"), file=sys.stderr)
    for ladder, tiers in LADDER_TIERS.items():
        row = ", ".join("%s %d" % (t, dist[ladder].get(t, 0)) for t in tiers + ["unranked"])
        print("  %-10s %s" % (ladder, row), file=sys.stderr)
    print("near the next tier: %s" % " ".join(flags["near"]), file=sys.stderr)
    print("activity about to expire: %s" % " ".join(flags["old"]), file=sys.stderr)


if __name__ == "__main__":
    main()
