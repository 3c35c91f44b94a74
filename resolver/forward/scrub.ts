/**
 * The scrubber: what of an upstream reply may be passed on and cached, after the
 * reply was matched to our query (source, ID, question) and walked. After
 * Unbound's `iterator/iter_scrub.c`, for a forwarder whose replies are cached
 * whole under their question and relayed to clients that may cache what they get:
 *
 * - header: an rcode a resolver gives to a well-formed query (NOERROR, NXDOMAIN,
 *   SERVFAIL, REFUSED, YXDOMAIN, RFC 6672 §2.2) and no extended rcode in the OPT,
 *   else the reply is refused (`rcode`); at most one OPT, owned by the root, in
 *   the additional section (RFC 6891 §6.1.1), else `malformed`;
 * - answer: the CNAME/DNAME chain that starts at the question name (RFC 1034
 *   §4.3.2, RFC 6672 §3; at most {@link MAX_CHAIN} links, one CNAME per name),
 *   and records of the question's type owned by the last name of the chain (any
 *   type, at any name of the chain, for ANY); nothing else. A reply whose answer
 *   section is left empty by this is refused (`bailiwick`);
 * - authority: SOA and DS owned by the question's zone or an ancestor of a name of
 *   the chain; NS the same, in positive answers only (an NS set in a negative
 *   answer is Unbound's "could contain poisonous contents"); NSEC and NSEC3 under
 *   such a zone or the parent of a chain name; nothing else;
 * - additional: A and AAAA of hosts named by a kept NS, MX, SRV, SVCB or HTTPS
 *   record (RFC 1035 §3.3's additional processing), and our OPT; nothing else;
 * - everywhere: an RRSIG stays only with the RRset it covers.
 *
 * What does not parse never gets here: walkMessage (wire/walk.ts) has refused a
 * reply with malformed RDATA (an A or AAAA that is not 4 or 16 octets included)
 * or a misplaced OPT, and the exchange counted it `malformed`.
 *
 * The ranking of RFC 2181 §5.4.1 does not arise: nothing from one reply is ever
 * merged with another or used for a question other than its own.
 */
import { HEADER_SIZE, Rcode, RRType } from '../wire/constants.js';
import type { Query } from '../wire/query.js';
import type { MessageLayout, RecordSpan, Section } from '../wire/walk.js';
import { ADDITIONAL_TARGET, isUnder, lower, nameKey, readLabels, sameName, wireLength } from './names.js';
import type { Labels } from './names.js';
import { rewriteReply } from './rewrite.js';

/** Links of a CNAME/DNAME chain followed at most (Unbound's `max-cname`-like limit: 11; BIND: 16). */
const MAX_CHAIN = 16;

const { DNAME, DS, RRSIG, NSEC, NSEC3 } = RRType;

/** Rcodes a recursive resolver may give to a well-formed query; anything else is refused. */
const EXPECTED_RCODES: ReadonlySet<number> = new Set([Rcode.NOERROR, Rcode.NXDOMAIN, Rcode.SERVFAIL, Rcode.REFUSED, 6 /* YXDOMAIN */]);

/** Records removed per section. */
export type Removed = Record<Section, number>;

/** What the scrubber made of a reply. */
export type Scrubbed =
  /** The reply to pass on and cache: the input when nothing was removed, else a rebuilt copy. */
  | { readonly ok: true; readonly reply: Buffer; readonly layout: MessageLayout; readonly removed: Removed }
  | { readonly ok: false; readonly reason: 'malformed' | 'rcode' | 'bailiwick'; readonly removed: Removed };

interface Rec {
  readonly span: RecordSpan;
  /** Lower-cased owner labels. */
  readonly owner: Labels;
  readonly key: string;
  readonly rdata: number;
  readonly rdlength: number;
}

/** Scrubs `reply` (already matched to `query` and walked into `layout`). */
export function scrubReply(reply: Buffer, layout: MessageLayout, query: Query): Scrubbed {
  const removed: Removed = { answer: 0, authority: 0, additional: 0 };
  const fail = (reason: 'malformed' | 'rcode' | 'bailiwick') => ({ ok: false, reason, removed }) as const;
  // walkMessage has refused a second OPT, one outside the additional section and one not owned by the root.
  const opt = layout.records.find((r) => r.type === RRType.OPT);
  const rcode = (reply[3] as number) & 0xf;
  // The OPT's first TTL octet holds the upper 8 bits of a 12-bit rcode (RFC 6891 §6.1.3).
  if (!EXPECTED_RCODES.has(rcode) || (opt && reply[opt.ttlOffset] !== 0)) return fail('rcode');

  const recs: Rec[] = [];
  for (const span of layout.records) {
    const owner = readLabels(reply, span.start);
    if (!owner) return fail('malformed');
    const labels = lower(owner.labels);
    recs.push({ span, owner: labels, key: nameKey(labels), rdata: span.ttlOffset + 6, rdlength: span.end - span.ttlOffset - 6 });
  }
  const question = readLabels(reply, HEADER_SIZE);
  if (!question) return fail('malformed');
  const kept = new Set<Rec>();
  const answers = recs.filter((r) => r.span.section === 'answer');
  const chain = followChain(reply, answers, lower(question.labels), query.type, kept);
  if (!chain) return fail('malformed');

  const last = chain[chain.length - 1] as Labels;
  for (const r of answers) {
    if (kept.has(r) || r.span.type === RRSIG) continue;
    const relevant = query.type === RRType.ANY ? chain.some((n) => sameName(r.owner, n)) : r.span.type === query.type && sameName(r.owner, last);
    if (relevant) kept.add(r);
  }
  const positive = rcode === Rcode.NOERROR && answers.some((r) => kept.has(r));
  const zones: Labels[] = [];
  const authority = recs.filter((r) => r.span.section === 'authority');
  for (const r of authority) {
    const type = r.span.type;
    const apex = chain.some((n) => isUnder(n, r.owner));
    if (apex && (type === RRType.SOA || type === DS || (type === RRType.NS && positive))) {
      kept.add(r);
      if (type !== DS) zones.push(r.owner);
    }
  }
  for (const n of chain) if (n.length > 0) zones.push(n.slice(1));
  for (const r of authority) if ((r.span.type === NSEC || r.span.type === NSEC3) && zones.some((z) => isUnder(r.owner, z))) kept.add(r);

  const targets = new Set<string>();
  for (const r of kept) {
    const at = ADDITIONAL_TARGET[r.span.type];
    if (at === undefined) continue;
    const target = readLabels(reply, r.rdata + at, r.span.end);
    if (!target) return fail('malformed');
    // SVCB/HTTPS target "." stands for the owner (RFC 9460 §2.5).
    targets.add(target.labels.length === 0 && r.span.type >= 64 ? r.key : nameKey(lower(target.labels)));
  }
  for (const r of recs) {
    if (r.span.section !== 'additional') continue;
    if (r.span === opt || ((r.span.type === RRType.A || r.span.type === RRType.AAAA) && targets.has(r.key))) kept.add(r);
  }
  // RRSIGs follow what they cover: same section, owner and type covered (RFC 4034 §3.1.1).
  const covered = new Set([...kept].map((r) => `${r.span.section}|${r.key}|${r.span.type}`));
  for (const r of recs) {
    if (r.span.type === RRSIG && r.rdlength >= 2 && covered.has(`${r.span.section}|${r.key}|${reply.readUInt16BE(r.rdata)}`)) kept.add(r);
  }

  for (const r of recs) if (!kept.has(r)) removed[r.span.section]++;
  if (answers.length > 0 && !answers.some((r) => kept.has(r))) return fail('bailiwick');
  if (kept.size === recs.length) return { ok: true, reply, layout, removed };
  const keptSpans = new Set([...kept].map((r) => r.span));
  const rebuilt = rewriteReply(reply, layout, (span) => keptSpans.has(span));
  return rebuilt ? { ok: true, ...rebuilt, removed } : fail('malformed');
}

/**
 * The names of the chain that starts at `qname`, adding the CNAME and DNAME
 * records followed to `kept`; undefined when a followed record's target does not
 * parse. A CNAME query is not followed (its answer is the CNAME itself).
 */
function followChain(reply: Buffer, answers: readonly Rec[], qname: Labels, qtype: number, kept: Set<Rec>): Labels[] | undefined {
  const chain: Labels[] = [qname];
  if (qtype === RRType.CNAME) return chain;
  const seen = new Set([nameKey(qname)]);
  for (let link = 0; link < MAX_CHAIN; link++) {
    const current = chain[chain.length - 1] as Labels;
    const cname = answers.find((r) => r.span.type === RRType.CNAME && sameName(r.owner, current));
    const dname = answers.find((r) => r.span.type === DNAME && r.owner.length < current.length && isUnder(current, r.owner));
    let next: Labels | undefined;
    let synthesized: Labels | undefined;
    if (dname) {
      const target = targetOf(reply, dname);
      if (!target) return undefined;
      // RFC 6672 §2.2: the owner's labels replaced by the target; too long a result is YXDOMAIN's case.
      const made = [...current.slice(0, current.length - dname.owner.length), ...target];
      if (wireLength(made) <= 255) synthesized = made;
    }
    if (cname) {
      next = targetOf(reply, cname);
      if (!next) return undefined;
      kept.add(cname);
      if (dname && synthesized && sameName(synthesized, next)) kept.add(dname);
    } else if (dname) {
      // Without a CNAME, the DNAME is the answer: followed, or (too long to follow) YXDOMAIN's reason.
      kept.add(dname);
      if (!synthesized) break;
      next = synthesized;
    } else break;
    const key = nameKey(next);
    if (seen.has(key)) break;
    seen.add(key);
    chain.push(next);
  }
  return chain;
}

/** The lower-cased target of a CNAME or DNAME: one name filling the RDATA exactly. */
function targetOf(reply: Buffer, r: Rec): Labels | undefined {
  const end = r.rdata + r.rdlength;
  const target = readLabels(reply, r.rdata, end);
  return target && target.end === end ? lower(target.labels) : undefined;
}
