"""Containers: apply child transforms in sequence, one of them, some of them, or in random order."""
from __future__ import annotations

from typing import Any

import numpy as np

from augcli.errors import ParamError
from augcli.transforms.base import AugmentState, Transform, randint
from augcli.transforms.params import Range, Weights
from augcli.transforms.registry import build, register


class Container(Transform):
    """A transform made of child transforms (`transforms:` in the recipe)."""

    def __init__(self, /, transforms: list[Any] | None = None, p: float = 1.0, **kwargs: Any):
        if transforms is None:
            raise ParamError([("transforms", f"{type(self).__name__} needs a list of transforms")])
        self.children = [t if isinstance(t, Transform) else build(t) for t in transforms]
        super().__init__(p=p, **kwargs)

    @property
    def targets(self):  # a container supports what all of its children support
        sets = [c.targets for c in self.children]
        return frozenset.intersection(*sets) if sets else Transform.targets

    def __call__(self, state: AugmentState, rng: np.random.Generator) -> None:
        if rng.random() >= self.p:
            return
        for child in self.choose(rng):
            _call_in_own_draws(child, state, rng)

    def choose(self, rng: np.random.Generator) -> list[Transform]:
        return self.children

    def to_config(self) -> dict[str, Any]:
        out = super().to_config()
        out["transforms"] = [c.to_config() for c in self.children]
        return out

    def leaves(self) -> list[Transform]:
        return [leaf for c in self.children for leaf in c.leaves()]


# random numbers each child of a container may use (PCG64 steps): the next child starts this far on
# from where the last one started, however many it used
DRAWS_PER_CHILD = 1 << 40


def _call_in_own_draws(child: Transform, state: AugmentState, rng: np.random.Generator) -> None:
    """Run `child` on `rng`, then put the stream where the child started, DRAWS_PER_CHILD steps on.

    How many numbers a transform draws can depend on the image: a bbox-safe crop draws fewer when
    an object touches the edge (numpy draws nothing from a range of one value), a crop draws
    differently on a frame of another size. Without this, that count would shift every later
    child's parameters, and the frames of one sequence, which must share copy k's flip, angle and
    colour, would not (augcli.recipe.Sequences). About 6 us a child."""
    bits = rng.bit_generator
    start = bits.state
    child(state, rng)
    bits.state = start
    bits.advance(DRAWS_PER_CHILD)


@register("meta")
class Sequential(Container):
    """Apply every child in order."""


@register("meta")
class OneOf(Container):
    """Apply exactly one child, chosen uniformly or by `weights`."""

    params = {"weights": Weights(default=None, help="relative chance of each child (default: equal)")}

    def check(self, config):
        w = config.get("weights")
        if not self.children:  # first: with no transforms, a weight count is not the mistake
            return [("transforms", "OneOf needs at least one transform")]
        if w is not None and len(w) != len(self.children):
            return [("weights", f"expected {len(self.children)} weights (one per transform), got {len(w)}")]
        return []

    def choose(self, rng):
        w = np.asarray(self.weights if self.weights is not None else [1.0] * len(self.children))
        return [self.children[int(rng.choice(len(self.children), p=w / w.sum()))]]


@register("meta")
class SomeOf(Container):
    """Apply n distinct children (n drawn from [lo, hi]), kept in recipe order."""

    params = {"n": Range(default=(1, 2), lo=0, hi=1000, integer=True, help="how many children to apply")}

    def check(self, config):
        lo, hi = config["n"]
        # no children at all is no exception: n >= 1 of none can never be drawn either (a run
        # would silently apply nothing); a container whose children failed to build is left to
        # the recipe reader, which reports those errors instead
        if lo > len(self.children):
            return [("n", f"expected n with lo <= {len(self.children)} (the number of transforms), got {[lo, hi]}")]
        return []

    def choose(self, rng):
        k = min(randint(rng, self.n), len(self.children))
        picked = np.sort(rng.choice(len(self.children), size=k, replace=False))
        return [self.children[int(i)] for i in picked]


@register("meta")
class RandomOrder(Container):
    """Apply every child, in a random order."""

    def choose(self, rng):
        return [self.children[int(i)] for i in rng.permutation(len(self.children))]
