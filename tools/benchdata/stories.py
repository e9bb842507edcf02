"""Story prompts (docs/evaluation.md#stories-a-real-model): short TinyStories-like openings
that stop mid-sentence, drawn from a seed. Only the prompts are made here;
the explained target is the model's own greedy next word, computed by
tools/make_datasets.py --task stories --model M at run time."""

NAMES = [("Lily", "girl", "She", "her"), ("Tom", "boy", "He", "his"), ("Ben", "boy", "He", "his"),
         ("Sue", "girl", "She", "her"), ("Anna", "girl", "She", "her"), ("Tim", "boy", "He", "his"),
         ("Mia", "girl", "She", "her"), ("Sam", "boy", "He", "his"), ("Lucy", "girl", "She", "her"),
         ("Max", "boy", "He", "his")]
ANIMALS = ["dog", "cat", "bird", "bunny", "fish", "bear", "frog", "duck"]
PLACES = ["park", "garden", "forest", "house", "school", "town", "yard"]
THINGS = ["ball", "toy", "box", "car", "doll", "kite", "hat", "book"]
ADJECTIVES = ["big", "little", "happy", "red", "shiny", "small", "funny", "tiny"]

TEMPLATES = [
    "Once upon a time, there was a little {kind} named {name}. {Pron} loved to play with {poss} {thing}. "
    "One day, {name} went to the",
    "{name} had a {animal} named {other}. They liked to play in the {place}. One day, the {animal} saw a",
    "Once upon a time, there was a {adj} {animal}. The {animal} lived in a big {place}. Every day, the {animal}",
    "{name} and {other} were friends. They went to the {place} to play. {name} found a {adj} {thing} and gave it to",
    "One day, {name} wanted to go to the {place}. {Pron} asked {poss} mom, but she said it was too",
    "{name} saw a {adj} {thing} in the {place}. {Pron} wanted to take it home, so {pron} picked it",
]


def make_prompt(rng):
    """One prompt, drawn with numpy Generator `rng`."""
    template = TEMPLATES[rng.integers(len(TEMPLATES))]
    name, kind, pron, poss = NAMES[rng.integers(len(NAMES))]
    others = [n for n in NAMES if n[0] != name]
    other = others[rng.integers(len(others))][0]
    return template.format(name=name, kind=kind, Pron=pron, pron=pron.lower(), poss=poss, other=other,
                           animal=ANIMALS[rng.integers(len(ANIMALS))], place=PLACES[rng.integers(len(PLACES))],
                           thing=THINGS[rng.integers(len(THINGS))], adj=ADJECTIVES[rng.integers(len(ADJECTIVES))])
