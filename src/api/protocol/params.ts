/** Request parameters: decoding and merging, typed readers with CloudStack's errors, pagination. */
export * from './request-params.ts';
export * from './param-readers.ts';
export * from './paging.ts';
