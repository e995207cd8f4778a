// @ts-check
// The sample tree's structure: N samples of one sampler (lanes with sample indices 0…N−1
// after the same prompt) grouped by shared prefixes of token ids. A node is a prefix; its
// count is how many samples start with it. Samples that share a prefix shared the same
// distribution at the next step (same prompt, same tokens, same sampler: only the dice
// differ), so a child's probabilities are the same in every sample through it and are
// read from the first. Pure, so node's tests import it; web/ui/sample-tree.js draws it.

/**
 * One sample as the engine streamed it.
 * @typedef {object} Sample
 * @property {number} index      its Philox sample index (its lane in the samples request)
 * @property {number[]} ids      token ids after the prompt
 * @property {string[]} pieces   each token's text delta
 * @property {(number | null)[]} p  each token's probability before truncation (Inspection.heat), null when not recorded
 * @property {(number | null)[]} q  each token's probability in the distribution it was drawn from (the record's token_prob)
 * @property {boolean[]} eog     each token is the end-of-generation token
 */

/**
 * @typedef {object} TreeNode
 * @property {number} step       the token's index after the prompt (-1: the root, the prompt)
 * @property {number} id         token id (-1 at the root)
 * @property {string} piece      the token's text delta
 * @property {boolean} eog
 * @property {number[]} prefix   the token ids from the root to here
 * @property {number[]} samples  the sample indices whose ids start with `prefix`, ascending
 * @property {number} count      samples.length
 * @property {number} ends       how many samples end here
 * @property {number | null} p   probability before truncation at its step
 * @property {number | null} q   probability it was drawn with
 * @property {TreeNode[]} children  most samples first (ties: lowest sample index first)
 */

/** An empty sample, filled by `addToken`. @param {number} index @returns {Sample} */
export const emptySample = (index) => ({ index, ids: [], pieces: [], p: [], q: [], eog: [] });

/**
 * Stores a token event of the samples request in its sample.
 * @param {Sample} s
 * @param {{step: number, tokenId: number, textDelta: string, eog: boolean, heat?: {prob: number} | null, record?: {token_prob: number} | null}} ev
 */
export function addToken(s, ev) {
  s.ids[ev.step] = ev.tokenId;
  s.pieces[ev.step] = ev.textDelta;
  s.p[ev.step] = ev.heat ? ev.heat.prob : null;
  s.q[ev.step] = ev.record ? ev.record.token_prob : null;
  s.eog[ev.step] = ev.eog;
}

/**
 * The prefix tree of `samples`.
 * @param {Sample[]} samples
 * @returns {TreeNode}
 */
export function buildSampleTree(samples) {
  /** @type {TreeNode} */
  const root = node(-1, -1, '', false, [], null, null);
  for (const s of [...samples].sort((a, b) => a.index - b.index)) {
    let at = root;
    at.samples.push(s.index);
    for (let step = 0; step < s.ids.length; step++) {
      const id = s.ids[step];
      let next = at.children.find((c) => c.id === id);
      if (!next) {
        next = node(step, id, s.pieces[step] ?? '', s.eog[step] ?? false, [...at.prefix, id], s.p[step] ?? null, s.q[step] ?? null);
        at.children.push(next);
      }
      next.samples.push(s.index);
      at = next;
    }
    at.ends += 1;
  }
  finish(root);
  return root;
}

/**
 * @param {number} step @param {number} id @param {string} piece @param {boolean} eog
 * @param {number[]} prefix @param {number | null} p @param {number | null} q
 * @returns {TreeNode}
 */
function node(step, id, piece, eog, prefix, p, q) {
  return { step, id, piece, eog, prefix, samples: [], count: 0, ends: 0, p, q, children: [] };
}

/** Counts, and children in their drawing order. @param {TreeNode} n */
function finish(n) {
  n.count = n.samples.length;
  for (const c of n.children) finish(c);
  n.children.sort((a, b) => b.count - a.count || a.samples[0] - b.samples[0]);
}

/**
 * Every node below the root, depth first in drawing order.
 * @param {TreeNode} root
 * @returns {TreeNode[]}
 */
export function treeNodes(root) {
  /** @type {TreeNode[]} */
  const out = [];
  const walk = (/** @type {TreeNode} */ n) => { for (const c of n.children) { out.push(c); walk(c); } };
  walk(root);
  return out;
}
