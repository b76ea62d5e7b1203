SIX = "not built"
