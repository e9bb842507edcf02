"""Facts-QA (docs/evaluation.md): a context of 3-6 one-fact sentences and a
question whose (name, relation) pair occurs exactly once in the context."""
from .vocab import load_vocab

RELATIONS = ["lives", "job", "likes"]


def sentence(name, relation, value):
    if relation == "lives":
        return "{} lives in {}.".format(name, value)
    if relation == "job":
        return "{} works as a {}.".format(name, value)
    return "{} likes {}.".format(name, value)


def question(name, relation):
    if relation == "lives":
        return "Where does {} live?".format(name)
    if relation == "job":
        return "What is the job of {}?".format(name)
    return "What does {} like?".format(name)


def _values(vocab, relation):
    return vocab[{"lives": "cities", "job": "jobs", "likes": "foods"}[relation]]


def make_item(rng, vocab=None, same_relation_bias=0.0, count_range=(3, 6)):
    """Returns dict(prompt, answer, evidence_span=[start, end) in prompt chars,
    context, question). same_relation_bias > 0 (training only) makes contexts
    with several facts of the asked relation more frequent, and count_range
    other context lengths; both default to the distribution of docs/evaluation.md."""
    vocab = vocab or load_vocab()
    count = int(rng.integers(count_range[0], count_range[1] + 1))
    asked_relation = RELATIONS[int(rng.integers(0, 3))]
    facts, pairs = [], set()
    while len(facts) < count:
        name = vocab["names"][int(rng.integers(0, len(vocab["names"])))]
        if rng.random() < same_relation_bias:
            relation = asked_relation
        else:
            relation = RELATIONS[int(rng.integers(0, 3))]
        if (name, relation) in pairs:
            continue
        values = _values(vocab, relation)
        facts.append((name, relation, values[int(rng.integers(0, len(values)))]))
        pairs.add((name, relation))
    candidates = [i for i, f in enumerate(facts) if f[1] == asked_relation]
    if not candidates:  # the asked relation must occur: retarget one fact
        i = int(rng.integers(0, count))
        name = facts[i][0]
        if (name, asked_relation) in pairs:
            candidates = [i]
        else:
            values = _values(vocab, asked_relation)
            pairs.discard((name, facts[i][1]))
            facts[i] = (name, asked_relation, values[int(rng.integers(0, len(values)))])
            pairs.add((name, asked_relation))
            candidates = [i]
    asked = candidates[int(rng.integers(0, len(candidates)))]
    sentences = [sentence(*f) for f in facts]
    context = " ".join(sentences)
    start = sum(len(s) + 1 for s in sentences[:asked])
    q = question(facts[asked][0], asked_relation)
    prompt = "{} Question: {} Answer:".format(context, q)
    return {"prompt": prompt, "context": context, "question": q, "answer": facts[asked][2],
            "evidence_span": [start, start + len(sentences[asked])],
            "facts": [list(f) for f in facts], "asked": asked}
