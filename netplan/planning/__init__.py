"""The bank's decisions: study + scenario -> problem -> Plan.

Districts are split, merged and run in parallel.
"""
