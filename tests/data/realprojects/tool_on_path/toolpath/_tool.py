TOOL = "not built"
