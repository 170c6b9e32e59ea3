"""Tests of gradscope.studies: each study against references computed here, independently."""
