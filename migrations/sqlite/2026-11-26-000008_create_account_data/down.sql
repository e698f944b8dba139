DROP TABLE account_data;
