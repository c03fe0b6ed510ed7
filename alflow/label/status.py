"""The status panel's defects-found curve as an inline SVG (no image request, no JavaScript)."""
from __future__ import annotations

from collections.abc import Sequence

WIDTH, HEIGHT, PAD = 300, 150, 28


def curve_svg(points: Sequence[tuple[float, float]], knee: float | None, pool_size: int,
              found: int | None = None) -> str:
    """Defects found (y) against images labeled (x), one point per round trained, the knee (an x of
    ``points``, or None) marked with a dashed line; axes from 0 to the largest value seen. ``found``: the
    defects found now (the panel's one number, labels of the open batch included) for the title."""
    if not points:
        return (f'<svg class="curve" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="no rounds yet">'
                f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no round trained yet</text></svg>')
    x_max = max(max(x for x, _ in points), 1.0)
    y_max = max(max(y for _, y in points), 1.0)

    def sx(x: float) -> float:
        return PAD + (WIDTH - 2 * PAD) * x / x_max

    def sy(y: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * y / y_max

    line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    parts = [f'<svg class="curve" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="defects found against images labeled">',
             f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
             f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
             f'<polyline fill="none" stroke="#c0392b" stroke-width="2" points="{line}"/>']
    parts += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="#c0392b"/>' for x, y in points]
    if knee is not None:
        parts.append(f'<line class="knee" x1="{sx(knee):.1f}" y1="{PAD}" x2="{sx(knee):.1f}" y2="{HEIGHT - PAD}" '
                     f'stroke="#2c3e50" stroke-dasharray="4 3"/><text x="{sx(knee) + 3:.1f}" y="{PAD + 10}" '
                     f'font-size="10">knee {knee:.0f}</text>')
    parts.append(f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" text-anchor="end" font-size="10">'
                 f'images labeled (of {pool_size})</text>')
    parts.append(f'<text x="4" y="{PAD - 8}" font-size="10">defects found ({y_max:.0f})</text></svg>')
    return "".join(parts)
