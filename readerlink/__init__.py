"""readerlink"""
