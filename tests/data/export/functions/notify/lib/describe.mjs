export const describe = (record) =>
  `new object ${record.s3.bucket.name}/${record.s3.object.key} (${record.s3.object.size} bytes)`;
