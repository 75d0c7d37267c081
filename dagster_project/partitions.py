"""The daily partitions shared by ingestion, dbt and the push: one per UTC landing day."""

from dagster import DailyPartitionsDefinition

from dagster_project.settings import partition_start_date

# end_offset=1 includes today, so the landing sensor can load files as they land.
daily_partitions = DailyPartitionsDefinition(start_date=partition_start_date(), end_offset=1)
