"""alflow: pool-based active learning experiments for automated visual inspection."""
__version__ = "0.1.0"
