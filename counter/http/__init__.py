"""The counter's HTTP shell (aiohttp): tallies, results, BLT, the results pages, serving."""
