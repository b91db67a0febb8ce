"""The live wallboard: KPI rows folded into per-queue tiles (``board``) and served to TVs (``server``)."""
