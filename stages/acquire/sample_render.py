"""The sample world's pixels: `render_frames(plan)` draws each frame of a `VideoPlan`.

Six verbs, each with its own tool, colour and motion (black knife chopping, teal spoon circling,
blue jug pouring, magenta turner flipping, yellow whisk beating, white rolling pin rolling), act on
six nouns, each with its own shape and colour, on a per-video board, with camera jitter and sensor
noise; the hand brings each tool in just before its action and takes it away after. Pure numpy,
seeded by the plan: the same plan always gives the same frames.
"""

from collections.abc import Iterator

import numpy as np

from stages.acquire.sample_plan import Action, VideoPlan, frame_times, seeded_rng

# Walnut, slate, dark oak, grey stone: a few similar dark, neutral surfaces near the Kinetics mean
# colour. Random-weight S3D features respond mostly to the strongest colour contrast in the clip,
# so a light or strongly varying board would drown the food and the tools in them and let k-means
# cluster clips by board instead of by action (benchmarks/bench_tokens.py).
BACKGROUNDS = ((112, 98, 86), (106, 100, 96), (118, 104, 90), (100, 94, 90))

# A part is (kind, dx, dy, a, b, rgb) in object-local units: "e" ellipse with
# half-axes a, b; "r" the same with a hole; "b" a box with half-sizes a, b. Tools are anchored at
# their working point, handle (and hand) up.
SCALE = 2.0  # drawing unit in pixels at 120 rows: a noun spans about half the frame height
TOOL_SIZE = 0.75  # tools (and the hand) are drawn in units this much smaller than the food
REACH_S = 0.4  # seconds the hand takes to bring a tool in, or to take it away
SKIN, STEEL = (160, 112, 80), (200, 204, 212)
NOUN_PARTS = {
    "tomato": [("e", 0, 0, 15, 14, (205, 32, 30)), ("e", -5, -5, 4, 3, (240, 130, 115)),
               ("b", 0, -14, 4, 2, (40, 140, 40))],
    "egg": [("e", 0, 0, 12, 16, (246, 242, 228)), ("e", 0, 2, 6, 6, (250, 188, 30))],
    "onion": [("e", 0, 0, 15, 15, (150, 40, 130)), ("r", 0, 0, 10, 10, (214, 150, 214)),
              ("r", 0, 0, 4.5, 4.5, (214, 150, 214)), ("b", 0, -15, 2, 3, (150, 120, 80))],
    "carrot": [("e", 0, 0, 26, 6.5, (246, 140, 20)), ("e", -29, -3, 6, 2, (50, 160, 40)),
               ("e", -29, 3, 6, 2, (70, 180, 50))],
    "potato": [("e", 0, 0, 16, 12, (232, 204, 112)), ("e", 7, 4, 10, 9, (232, 204, 112)),
               ("e", -6, -2, 2, 1.5, (140, 100, 52)), ("e", 8, 5, 2, 1.5, (140, 100, 52))],
    "lettuce": [("e", -8, 0, 10, 14, (90, 182, 60)), ("e", 8, 0, 10, 14, (150, 214, 90)),
                ("e", 0, -2, 9, 15, (70, 158, 50)), ("b", 0, 0, 1, 12, (200, 235, 170))],
}  # fmt: skip
TOOL_PARTS = {
    "cut": [("b", 0, -13, 8, 13, (40, 42, 48)), ("b", -7, -13, 1, 13, STEEL),
            ("b", 2, -31, 3, 6, (24, 24, 24)), ("e", 2, -40, 7, 6, SKIN)],
    "stir": [("e", 0, 0, 10, 7.5, (20, 168, 176)), ("b", 0, -21, 3.5, 15, (20, 168, 176)),
             ("e", 0, -37, 7, 6, SKIN)],
    "pour": [("b", 14, 8, 13, 14, (40, 90, 210)), ("b", 14, -6, 14, 2.5, (25, 55, 150)),
             ("r", 29, 8, 6, 8, (40, 90, 210)), ("b", 0, -4, 4, 2.5, (40, 90, 210)),
             ("e", 34, 8, 6, 7, SKIN)],
    "flip": [("b", 0, 0, 15, 4, (206, 40, 150)), ("b", 0, -19, 2.5, 15, (60, 40, 36)),
             ("e", 0, -36, 7, 6, SKIN)],
    "whisk": [("r", 0, 0, 8, 14, (240, 196, 30)), ("r", 0, 0, 4, 14, (240, 196, 30)),
              ("b", 0, -20, 3, 8, (240, 196, 30)), ("e", 0, -31, 7, 6, SKIN)],
    "roll": [("b", 0, 0, 24, 7, (232, 230, 224)), ("b", -30, 0, 6, 3, (70, 44, 30)),
             ("b", 30, 0, 6, 3, (70, 44, 30)), ("e", -37, 0, 6, 7, SKIN),
             ("e", 37, 0, 6, 7, SKIN)],
}  # fmt: skip


def _fill(img, kind, cx, cy, a, b, angle, rgb) -> None:
    """Paint one rotated ellipse / ring / box, touching only its bounding square."""
    h, w = img.shape[:2]
    reach = np.hypot(a, b) if kind == "b" else max(a, b)
    x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 2, w)
    y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 2, h)
    if x0 >= x1 or y0 >= y1 or min(a, b) <= 0:
        return
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - cx
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - cy
    c, s = np.cos(angle), np.sin(angle)
    u, v = (dx * c + dy * s) / a, (dy * c - dx * s) / b
    if kind == "b":
        mask = (np.abs(u) <= 1) & (np.abs(v) <= 1)
    else:
        q = u * u + v * v
        mask = (q <= 1) & (q >= 0.45) if kind == "r" else q <= 1
    img[y0:y1, x0:x1][mask] = rgb


def _draw(img, parts, x, y, unit, angle=0.0, sx=1.0, sy=1.0, shade=1.0) -> None:
    c, s = np.cos(angle), np.sin(angle)
    for kind, dx, dy, a, b, rgb in parts:
        px, py = dx * sx * unit, dy * sy * unit
        colour = tuple(int(ch * shade) for ch in rgb)
        _fill(img, kind, x + c * px - s * py, y + s * px + c * py, a * sx * unit, b * sy * unit,
              angle, colour)  # fmt: skip


def _draw_action(img, verb, noun, x, y, tau, p, reach, unit) -> None:
    """The noun reacting to the verb at progress p; the tool moving at action time tau, acting
    when reach == 1, coming in or going away when 0 < reach < 1, absent at 0."""
    active = reach >= 1.0
    sx = sy = shade = 1.0
    angle = lift = 0.0
    if verb == "roll":
        flat = min(p / 0.5, 1.0)
        sx, sy = 1 + 0.5 * flat, 1 - 0.45 * flat
    elif verb == "pour" and p > 0.15:
        grow = min(p / 0.3, 1.0)
        pool = (14 + 8 * grow) * unit, (9 + 5 * grow) * unit
        _fill(img, "e", x, y + 4 * unit, *pool, 0, (150, 196, 232))
    elif verb == "flip" and active:
        flips, phase = divmod(tau / 1.3, 1.0)  # a 0.9 s throw, turning over, every 1.3 s
        air = min(phase / 0.7, 1.0)
        lift, turn = 22 * unit * np.sin(np.pi * air), np.cos(np.pi * (flips + air))
        sy, shade = max(abs(turn), 0.2), 1.0 if turn > 0 else 0.7
    elif verb == "stir" and active:
        angle = 0.5 * np.sin(2 * np.pi * 1.1 * tau)
    _draw(img, NOUN_PARTS[noun], x, y - lift, unit, angle, sx, sy, shade)
    cuts = min(int(max(tau, 0.0) * 2.5), 5) if verb == "cut" else 0  # one per chop, 2.5 Hz
    if verb == "cut":  # the cuts made so far split the noun into slices
        for k in range(cuts + (p >= 1)):
            _fill(img, "b", x + (-13 + 5 * k) * unit, y, 0.8 * unit, 13 * unit, 0, (46, 34, 28))
    elif verb == "whisk":  # froth builds up around it
        for k in range(int(min(p / 0.3, 1.0) * 8)):
            a = k * 0.8
            _fill(img, "e", x + 17 * unit * np.cos(a), y + 15 * unit * np.sin(a), 4 * unit,
                  3 * unit, 0, (238, 218, 150))  # fmt: skip
    if reach <= 0.0:
        return
    wave = np.sin(2 * np.pi * tau)
    if verb == "cut":  # vertical chops at 2.5 Hz along a line that walks across the noun
        up = 0.5 + 0.5 * np.cos(2 * np.pi * 2.5 * tau)
        pose = (x + (-13 + 5 * cuts) * unit, y + (10 - 26 * up) * unit, 0.08)
    elif verb == "stir":  # circles at 1.1 Hz
        w = 2 * np.pi * 1.1 * tau
        pose = (x + 14 * unit * np.cos(w), y + 10 * unit * np.sin(w), 0.45)
    elif verb == "pour":  # tilt the jug, then a wavering stream falls onto the noun
        tilt = min(p / 0.2, 1.0) + 0.08 * wave
        pose = (x + 10 * unit, y - 21 * unit, -tilt)
        if tilt > 0.7 and active:  # from the spout (local (1, -3)) down to the noun
            left = pose[0] + unit * (np.cos(tilt) - 3 * np.sin(tilt))
            top = pose[1] - unit * (np.sin(tilt) + 3 * np.cos(tilt))
            width = (1.6 + 0.6 * wave) * unit
            _fill(img, "b", left, (top + y) / 2, width, (y - top) / 2, 0, (182, 222, 250))
    elif verb == "flip":  # the spatula scoops under it and follows the throw
        pose = (x - 4 * unit, y + 13 * unit - 0.4 * lift, -0.5)
    elif verb == "whisk":  # fast, small oscillation at 6 Hz
        w = 2 * np.pi * 6 * tau
        pose = (x + 5 * unit * np.sin(w) + 3 * unit * wave, y - 2 * unit + 2 * unit * np.cos(w),
                0.15 * np.sin(w))  # fmt: skip
    else:  # roll: slow back and forth over it
        pose = (x, y + 13 * unit * np.sin(2 * np.pi * 0.9 * tau), 0.05)
    away = (1.0 - reach) * 70 * unit  # the hand brings the tool in from above the board
    _draw(img, TOOL_PARTS[verb], pose[0], pose[1] - away, unit * TOOL_SIZE, pose[2])


def _state_at(actions: tuple[Action, ...], t: float) -> tuple[Action, float, float]:
    """(action on screen, its progress, reach of its tool) at time t. Reach is 1 while the tool
    acts and ramps over REACH_S (at most half the idle gap) from 0 before the action and back to 0
    after it: the hand brings the tool in and takes it away."""
    done = [a for a in actions if a.start_s <= t]
    if not done:
        first = actions[0]
        return first, 0.0, _ramp(first.start_s - t, min(REACH_S, first.start_s))
    last = done[-1]
    if t < last.end_s:
        return last, (t - last.start_s) / (last.end_s - last.start_s), 1.0
    later = actions[len(done) :]
    half = (later[0].start_s - last.end_s) / 2 if later else REACH_S
    if later and t > last.end_s + half:  # the next ingredient is on the board, ready
        return later[0], 0.0, _ramp(later[0].start_s - t, min(REACH_S, half))
    return last, 1.0, _ramp(t - last.end_s, min(REACH_S, half))


def _ramp(away_s: float, span_s: float) -> float:
    return float(np.clip(1.0 - away_s / span_s, 0.0, 1.0)) if span_s > 0 else 0.0


def render_frames(plan: VideoPlan, times: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames (H, W, 3) of `plan` at `times` (default: its own frame times)."""
    rng = seeded_rng(plan.seed, plan.index, 2)
    h, w, unit = plan.height, plan.width, SCALE * plan.height / 120
    pad = int(np.ceil(2.5 * unit))  # the camera shakes by up to this many pixels
    base = np.array(BACKGROUNDS[rng.integers(0, len(BACKGROUNDS))]) + rng.uniform(-3, 3, 3)
    rows = np.arange(h + 2 * pad)[:, None, None]
    grain = 7 * np.sin(rows * rng.uniform(0.3, 0.9) + 3 * np.sin(rows * 0.05))
    board = np.clip(base + grain + rng.normal(0, 3, (h + 2 * pad, w + 2 * pad, 3)), 0, 255)
    board = board.astype(np.uint8)
    noise = rng.normal(0, 2.5, (5, h, w, 3)).astype(np.float32)
    gain, phase = rng.uniform(0.97, 1.03), rng.uniform(0, 2 * np.pi, 4)
    centre = (w / 2 + rng.uniform(-4, 4) * unit, h / 2 + rng.uniform(-3, 5) * unit)
    for k, t in enumerate(frame_times(plan) if times is None else times):
        shake = 2.5 * unit * np.array(
            [np.sin(1.3 * t + phase[0]) + 0.4 * np.sin(4.1 * t + phase[1]),
             np.sin(1.1 * t + phase[2]) + 0.4 * np.sin(3.7 * t + phase[3])]) / 1.4  # fmt: skip
        ox, oy = np.clip(np.round(shake).astype(int), -pad, pad)
        img = board[pad + oy : pad + oy + h, pad + ox : pad + ox + w].copy()
        action, p, reach = _state_at(plan.actions, float(t))
        x, y = centre[0] - ox, centre[1] - oy
        _draw_action(img, action.verb, action.noun, x, y, t - action.start_s, p, reach, unit)
        yield np.clip(img * gain + noise[k % 5], 0, 255).astype(np.uint8)
