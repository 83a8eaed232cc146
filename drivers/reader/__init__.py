"""drivers/reader"""
