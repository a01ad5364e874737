"""The batch stages on Apache Spark: ALS training into an `mf` artifact, and reasons for every shopper.

`session` starts Spark (checking Java first), `als` fits MLlib's ALS behind the `mf` recommender,
`reasons` runs the one served path over partitions of shoppers with `mapInPandas`. pyspark is imported
only inside these modules, so the rest of whyrec never needs Java.
"""
