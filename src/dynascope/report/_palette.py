"""The report's colours: the Okabe–Ito palette, distinguishable under the common colour-vision deficiencies
(Okabe & Ito 2008)."""

PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
