DROP TABLE filters;
