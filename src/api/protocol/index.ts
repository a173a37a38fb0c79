/** The CloudStack API wire protocol: signing, request parameters, response shapes. Pure functions. */
export * from './dates.ts';
export * from './signing.ts';
export * from './params.ts';
export * from './response.ts';
