"""Economic games as frozen specs, one module per game, run by the generic engine in :mod:`simulator.game`.

Seven decision roles have human first-round data in MobLab ``joint.csv`` (Mei et al. 2024, PNAS):

=====================  ==========================  ==============  ==============
role                   decision                    answers         human column
=====================  ==========================  ==============  ==============
dictator               amount given of the stakes  0..stakes       ``dictator``
ultimatum_proposer     offer to the responder      0..stakes       ``ultimatum_1``
ultimatum_responder    minimum acceptable offer    0..stakes       ``ultimatum_2``
trust_investor         amount sent (multiplied)    0..stakes       ``trust_1``
trust_banker           amount returned             0..mult×sent    ``trust_3``
public_goods           contribution to the pot     0..endowment    ``PG``
bomb_risk              boxes opened                0..n_boxes      ``bomb``
=====================  ==========================  ==============  ==============

Default instructions are our own wording and end with a prefilled answer stem (e.g. ``"I give $"``) so the
answer distribution can be read exactly. ``wording="verbatim"`` uses the chatbot instructions that the dataset
ships in ``game_prompts.json`` (opener and task joined into one user message) instead.

Adding a game: write one module defining a :class:`GameSpec` (parameters, roles with instruction and answer bound,
matching, ``settle`` for payoffs, records and history lines) and call :func:`register_game` on it once — from your
own code, no edit of this package (see :mod:`scenarios.games.registry`). A role without MobLab data
(``human_column=None``) runs and what-ifs; fitting or scoring it against humans raises a one-line ``DataError``.
"""

from scenarios.games.bomb_risk import BOMB_RISK, bomb_payoffs
from scenarios.games.core import Game, GameRole, ParsedAnswer, game_role, load_verbatim_prompts, parse_answer
from scenarios.games.dictator import DICTATOR, dictator_payoffs
from scenarios.games.public_goods import PUBLIC_GOODS, public_goods_payoffs
from scenarios.games.registry import (
    BUILTIN_GAMES,
    GAMES,
    ROLES,
    game_spec,
    register_game,
    role_spec,
    unregister_game,
)
from scenarios.games.spec import GameSpec, Param, RoleSpec, RoundContext, RoundOutcome
from scenarios.games.trust import TRUST, trust_payoffs
from scenarios.games.ultimatum import ULTIMATUM, ultimatum_payoffs

__all__ = [
    "BOMB_RISK",
    "BUILTIN_GAMES",
    "DICTATOR",
    "GAMES",
    "PUBLIC_GOODS",
    "ROLES",
    "TRUST",
    "ULTIMATUM",
    "Game",
    "GameRole",
    "GameSpec",
    "Param",
    "ParsedAnswer",
    "RoleSpec",
    "RoundContext",
    "RoundOutcome",
    "bomb_payoffs",
    "dictator_payoffs",
    "game_role",
    "game_spec",
    "load_verbatim_prompts",
    "parse_answer",
    "public_goods_payoffs",
    "register_game",
    "role_spec",
    "trust_payoffs",
    "ultimatum_payoffs",
    "unregister_game",
]
