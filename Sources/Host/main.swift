print("mmstats")
